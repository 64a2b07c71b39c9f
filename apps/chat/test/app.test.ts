// The chat app's pure parts: size and memory estimates, device fit, progress lines and ETA, folder
// picking, settings, number formatting, error sentences. (The UI itself: e2e/tests/chat-app.spec.ts.)
import { ModelFileError, NetworkError, WebGPUUnavailable } from "@wisp/sdk";
import { describe, expect, it } from "vitest";
import { CATALOG, contextFor, estimate, fitFor, shapeOf } from "../src/catalog.ts";
import { probeSummary } from "../src/device-test.ts";
import { explain } from "../src/errors.ts";
import { modelFilesFrom } from "../src/folder.ts";
import { formatBytes, formatCount, formatDuration } from "../src/format.ts";
import { phaseDetail, RateMeter } from "../src/progress.ts";
import { DEFAULTS, normalize } from "../src/settings.ts";

const MiB = 2 ** 20;

describe("catalog", () => {
  it("lists the real small chat models and the local stories260K", () => {
    const ids = CATALOG.map((e) => e.hf ?? e.url);
    expect(ids).toEqual([
      "/models/stories260K/hf/",
      "HuggingFaceTB/SmolLM2-360M-Instruct",
      "Qwen/Qwen2.5-0.5B-Instruct",
      "Qwen/Qwen3-0.6B",
      "unsloth/Llama-3.2-1B-Instruct",
    ]);
    for (const e of CATALOG) {
      expect(e.parameters).toBeGreaterThan(0);
      expect(e.downloadBytes).toBeGreaterThan(0);
    }
  });

  it("each entry carries its config.json fields, and the estimates' shape comes from them", () => {
    for (const e of CATALOG) {
      const c = e.configJson;
      expect(c.architectures[0], e.name).toMatch(/^(Llama|Qwen2|Qwen3)ForCausalLM$/);
      expect(e.config).toEqual(shapeOf(c));
      expect(e.config.headDim * e.config.heads, e.name).toBe(
        c.head_dim ? c.head_dim * c.num_attention_heads : c.hidden_size,
      );
      // parameters in the registry agree with the shapes (tied embeddings counted once, norms left out)
      const s = e.config;
      const perLayer =
        s.hiddenSize * (s.heads + 2 * s.kvHeads) * s.headDim +
        s.heads * s.headDim * s.hiddenSize +
        3 * s.hiddenSize * s.intermediateSize;
      const params = s.layers * perLayer + s.vocabSize * s.hiddenSize * (s.tiedEmbeddings ? 1 : 2);
      expect(Math.abs(params / e.parameters - 1), e.name).toBeLessThan(0.01);
    }
  });

  it("estimates INT4 weights close to parameters × 4.5 bits", () => {
    for (const e of CATALOG.filter((x) => x.parameters > 1e8)) {
      const est = estimate(e.config, 2048);
      const ratio = est.weights / (e.parameters * 0.5625);
      expect(ratio, e.name).toBeGreaterThan(0.9);
      expect(ratio, e.name).toBeLessThan(1.1);
    }
  });

  it("KV cache: layers × 2 × context × kvHeads × headDim × 4 bytes", () => {
    const stories = CATALOG[0]!;
    expect(estimate(stories.config, 512).kvCache).toBe(5 * 2 * 512 * 4 * 8 * 4);
    expect(contextFor(stories, 2048)).toBe(512);
  });

  it("the largest tensor is the embedding for large vocabularies (packed 4-bit)", () => {
    const llama = CATALOG.find((e) => e.id.startsWith("llama"))!;
    expect(estimate(llama.config, 2048).largestTensor).toBe(128256 * (2048 / 32) * 16);
  });

  it("fit: binding limit, memory budget, software GPU, no WebGPU", () => {
    const llama = estimate(CATALOG.find((e) => e.id.startsWith("llama"))!.config, 2048);
    const small = estimate(CATALOG[0]!.config, 512);
    const gpu = { webgpu: true, maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB };
    expect(fitFor(small, gpu, formatBytes).level).toBe("ok");
    expect(fitFor(llama, gpu, formatBytes).level).toBe("ok");
    expect(fitFor(llama, { ...gpu, maxStorageBufferBindingSize: 64 * MiB }, formatBytes)).toMatchObject({
      level: "no",
    });
    expect(fitFor(llama, { ...gpu, deviceMemory: 2 ** 30 }, formatBytes).level).toBe("tight");
    expect(fitFor(llama, { ...gpu, software: true }, formatBytes).level).toBe("tight");
    expect(fitFor(small, { ...gpu, software: true }, formatBytes).level).toBe("ok");
    expect(fitFor(small, { webgpu: false }, formatBytes).level).toBe("no");
  });
});

describe("progress", () => {
  it("rate and ETA over a moving window", () => {
    const m = new RateMeter(4000);
    expect(m.rate()).toBeUndefined();
    m.add(0, 0);
    m.add(1e6, 1000);
    m.add(2e6, 2000);
    expect(m.rate()).toBeCloseTo(1e6);
    expect(m.eta(10e6)).toBeCloseTo(8);
    m.add(0, 2500); // a restart
    expect(m.rate()).toBeUndefined();
  });

  it("download lines show bytes, speed and time left; others a percentage", () => {
    const m = new RateMeter();
    m.add(0, 0);
    m.add(50e6, 5000);
    const line = phaseDetail({ phase: "download", loaded: 50e6, total: 150e6, fraction: 1 / 3 }, m);
    expect(line).toBe("50.0 MB of 150 MB · 10.0 MB/s · about 10 s left");
    expect(phaseDetail({ phase: "compile", loaded: 1, total: 2, fraction: 0.5 })).toBe("50%");
    expect(phaseDetail({ phase: "quantize", loaded: 3, total: 6, fraction: 0.5 })).toBe("50% (3 of 6)");
    expect(phaseDetail({ phase: "warmup", loaded: 1, total: 1, fraction: 1 })).toBe("done");
  });
});

describe("folder", () => {
  const file = (name: string) => new File(["x"], name);
  it("takes the shallowest folder with a config.json", () => {
    const picked = [
      { file: file("README.md"), path: "stories260K/README.md" },
      { file: file("config.json"), path: "stories260K/hf/config.json" },
      { file: file("model.safetensors"), path: "stories260K/hf/model.safetensors" },
      { file: file("tokenizer.json"), path: "stories260K/hf/tokenizer.json" },
      { file: file("stories260K-f32.gguf"), path: "stories260K/gguf/stories260K-f32.gguf" },
    ];
    const found = modelFilesFrom(picked)!;
    expect(found.name).toBe("stories260K/hf");
    expect(found.files.map((f) => f.name).sort()).toEqual([
      "config.json",
      "model.safetensors",
      "tokenizer.json",
    ]);
  });
  it("falls back to a folder with a .gguf file; nothing usable → undefined", () => {
    expect(modelFilesFrom([{ file: file("m.gguf"), path: "m/m.gguf" }])!.files).toHaveLength(1);
    expect(modelFilesFrom([{ file: file("a.txt"), path: "x/a.txt" }])).toBeUndefined();
  });
});

describe("settings", () => {
  it("clamps and defaults", () => {
    expect(normalize({})).toEqual(DEFAULTS);
    const s = normalize({ temperature: "5", topP: -1, maxTokens: "12.6", seed: "", contextLength: "abc" });
    expect(s).toMatchObject({ temperature: 2, topP: 0.01, maxTokens: 13, seed: null, contextLength: 2048 });
    expect(normalize({ seed: "42" }).seed).toBe(42);
    expect(normalize({ fastDecode: "on" }).fastDecode).toBe(true);
    expect(normalize({ fastDecode: "yes" }).fastDecode).toBe(false);
  });
});

describe("format", () => {
  it("bytes, counts, durations", () => {
    expect(formatBytes(1069910)).toBe("1.07 MB");
    expect(formatBytes(2471645608)).toBe("2.47 GB");
    expect(formatCount(260000)).toBe("260K");
    expect(formatCount(361820000)).toBe("362M");
    expect(formatCount(1235810000)).toBe("1.24B");
    expect(formatDuration(8.2)).toBe("8 s");
    expect(formatDuration(185)).toBe("3 min");
    expect(formatDuration(3900)).toBe("1 h 5 min");
  });
});

describe("errors", () => {
  it("a sentence and a next step, never a stack", () => {
    const missing = explain(new ModelFileError('Required model file "config.json" is missing'));
    expect(missing.sentence).toBe('Required model file "config.json" is missing.');
    expect(missing.next).toMatch(/^Check that the folder/);
    expect(missing.name).toBe("ModelFileError");
    expect(explain(new NetworkError("the download failed")).next).toMatch(/connection/);
    const gpu = explain(
      new WebGPUUnavailable("This browser has no WebGPU support — try Chrome 113+ on a desktop"),
    );
    expect(gpu.next).toBe("");
    const fetchFailed = explain(new TypeError("Failed to fetch"));
    expect(fetchFailed.sentence).toBe("Something went wrong: Failed to fetch.");
    expect(fetchFailed.next).toMatch(/connection/);
    expect(fetchFailed.sentence).not.toMatch(/\n|at .*:\d+/);
  });
});

describe("device test result", () => {
  const probe = {
    decodeTokS: 12.34,
    verdict: "fits" as const,
    reason: "Needs 812 MB (…), within the 2.15 GB assumed for this GPU (browsers do not tell).",
  };
  it("says the speed and the verdict in one line, then why", () => {
    const r = probeSummary(probe as Parameters<typeof probeSummary>[0]);
    expect(r).toEqual({ headline: "≈ 12.3 tok/s on this device · fits", detail: probe.reason, level: "ok" });
    const streaming = { ...probe, decodeTokS: 3.456, verdict: "streaming" as const };
    expect(probeSummary(streaming as Parameters<typeof probeSummary>[0])).toMatchObject({
      headline: "≈ 3.46 tok/s on this device · needs streaming",
      level: "tight",
    });
    const tooLarge = { ...probe, decodeTokS: null, verdict: "too-large" as const };
    expect(probeSummary(tooLarge as Parameters<typeof probeSummary>[0])).toMatchObject({
      headline: "Does not fit on this device",
      level: "no",
    });
  });
});
