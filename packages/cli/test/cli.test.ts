// The CLI contract end to end on Dawn (SwiftShader in CI): stories260K parity with llama2.c's forward
// pass (an independent f64 CPU reference on the original checkpoint), the GGUF path, logits, INT4
// quality, chat templates, and bad input → one clear line on stderr and a non-zero exit.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tokenizerFromFolderFiles } from "@wisp/runtime";
import { beforeAll, describe, expect, it } from "vitest";
import { argmax, llama2cForward, readLlama2c } from "../../runtime/test/reference/llama2c.ts";
import { parseSize } from "../src/host.ts";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const models = join(repo, "../shared/models");
const stories = join(models, "stories260K");
const cli = join(repo, "packages/cli/dist/wisp.mjs");

/** llama2.c's doc/stories260K.md, greedy from BOS (as quoted in ../shared/models/README.md). */
const DOCUMENTED =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do.";

function wisp(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    timeout: 280_000,
    maxBuffer: 256 << 20,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function wispJson<T>(...args: string[]): T {
  const r = wisp(...args, "--json");
  if (r.code !== 0) throw new Error(`wisp ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const reference = readLlama2c(new Uint8Array(readFileSync(join(stories, "original/stories260K.bin"))));

function referenceGreedy(steps: number): number[] {
  const forward = llama2cForward(reference);
  const ids: number[] = [];
  let token = 1;
  for (let pos = 0; pos < steps; pos++) {
    token = argmax(forward(token, pos));
    ids.push(token);
  }
  return ids;
}

function referenceLogits(ids: number[]): Float64Array[] {
  const forward = llama2cForward(reference);
  return ids.map((t, pos) => forward(t, pos));
}

/** A fixed TinyStories-style text the model did not write (its own greedy text flatters f32). */
const STORY =
  "Once upon a time, there was a little boy named Tom. Tom liked to play with his red car in the garden. " +
  "One day, his friend Sue came to his house. They played with the car and a big ball. Then it started to rain, " +
  "so they ran inside. Mom gave them warm milk and cookies. Tom and Sue were happy. They said thank you to mom.";

async function tokenizeStory(): Promise<number[]> {
  const tok = await tokenizerFromFolderFiles(async (n) =>
    readFile(join(stories, "hf", n), "utf8").catch(() => undefined),
  );
  return tok.encode(STORY);
}

beforeAll(() => {
  execFileSync("pnpm", ["--silent", "--filter", "@wisp/cli", "build"], { cwd: repo, stdio: "inherit" });
});

describe("stories260K parity", () => {
  const expected = referenceGreedy(128);

  it("greedy from BOS with f32 weights equals llama2.c for 128 tokens and the documented text", () => {
    const r = wispJson<{ prompt_ids: number[]; ids: number[]; text: string }>(
      "generate",
      "--model",
      join(stories, "hf"),
      "--prompt",
      "",
      "--max-tokens",
      "128",
      "--temperature",
      "0",
      "--quant",
      "f32",
    );
    expect(r.prompt_ids).toEqual([1]);
    expect(r.ids).toEqual(expected);
    expect(r.text.startsWith(DOCUMENTED)).toBe(true);
  });

  it("the GGUF file gives the same greedy tokens", () => {
    const r = wispJson<{ ids: number[] }>(
      "generate",
      "--model",
      join(stories, "gguf/stories260K-f32.gguf"),
      "--tokenizer",
      join(stories, "hf"),
      "--prompt",
      "",
      "--max-tokens",
      "128",
      "--temperature",
      "0",
      "--quant",
      "f32",
    );
    expect(r.ids).toEqual(expected);
  });

  describe("the GGUF file alone: its tokenizer comes from its own metadata", () => {
    const run = (model: string, ...extra: string[]) => {
      const args = ["--prompt", "", "--max-tokens", "40", "--temperature", "0", "--quant", "f32"];
      const r = wisp("generate", "--model", model, ...args, ...extra);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    const gguf = join(stories, "gguf/stories260K-f32.gguf");

    it("prints what the HF folder prints, greedy from BOS", () => {
      const text = run(gguf);
      expect(text).toBe(run(join(stories, "hf")));
      expect(text.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
    });

    it("encodes a prompt the same way (BOS, SentencePiece pieces, byte fallback)", () => {
      const prompt = ["--prompt", "Once upon a time, Lily saw a café 🙂", "--json"];
      expect(run(gguf, ...prompt)).toBe(run(join(stories, "hf"), ...prompt));
    });
  });

  // `wisp logits` of stories260K for these ids, with extra flags.
  const storyLogits = (ids: number[], ...extra: string[]) =>
    wispJson<{ logits: number[][] }>(
      "logits",
      "--model",
      join(stories, "hf"),
      "--tokens",
      ids.join(","),
      ...extra,
    ).logits;

  it("logits at every prefill position match llama2.c within 1e-4 of the largest logit", () => {
    const ids = [1, ...expected.slice(0, 40)];
    const logits = storyLogits(ids);
    const ref = referenceLogits(ids);
    expect(logits.length).toBe(ids.length);
    for (let p = 0; p < ids.length; p++) {
      const r = ref[p]!;
      const maxRef = Math.max(...r.map(Math.abs));
      const maxDiff = Math.max(...logits[p]!.map((v, i) => Math.abs(v - r[i]!)));
      expect(maxDiff / maxRef, `position ${p}`).toBeLessThanOrEqual(1e-4);
    }
  });

  // Perplexity and greedy agreement of the story under `logits` with these extra flags.
  const storyNll = (ids: number[], ...extra: string[]) => {
    const logits = storyLogits(ids, ...extra);
    let sum = 0;
    let agree = 0;
    for (let p = 0; p + 1 < ids.length; p++) {
      const row = logits[p]!;
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      sum += lse - row[ids[p + 1]!]!;
      if (argmax(row) === ids[p + 1]) agree++;
    }
    return { ppl: Math.exp(sum / (ids.length - 1)), agree: agree / (ids.length - 1) };
  };

  // Issue 3 asks for ≤ +10%. Measured here with every matrix INT4: Q4_0's rule (d = m/−8) +22.0%; with
  // the importance-weighted scale search (kernels/src/format/int4.ts) +14.6%. Most of the loss is the
  // tied 64-wide lm_head: stored INT8 (kernels/src/format/int8.ts, the default since) +9.9%, the same
  // as an f32 lm_head (+10.0%) — ARCHITECTURE.md "INT4 quality". The guard is the target.
  it("INT4 perplexity on a fixed story text (INT8 lm_head; target and guard +10%)", async () => {
    const ids = await tokenizeStory();
    const f32 = storyNll(ids, "--quant", "f32");
    const int4 = storyNll(ids, "--quant", "int4");
    console.log(
      `stories260K perplexity on a fixed story (${ids.length} tokens): f32 ${f32.ppl.toFixed(4)}, int4 (int8 lm_head) ${int4.ppl.toFixed(4)} ` +
        `(+${((int4.ppl / f32.ppl - 1) * 100).toFixed(1)}%); greedy-token agreement f32 ${(f32.agree * 100).toFixed(0)}%, int4 ${(int4.agree * 100).toFixed(0)}%`,
    );
    expect(int4.ppl / f32.ppl).toBeLessThanOrEqual(1.1);
    expect(int4.agree).toBeGreaterThanOrEqual(f32.agree - 0.1);
  });

  // The decode path (fused GEMVs) teacher-forced gives prefill's perplexity; q8 activations (x of the
  // qkv, o and gate_up GEMVs rounded to 8 bits per block of 32) cost little on top of INT4 weights.
  it("decode-path perplexity: f32 activations as prefill, q8 activations within +2%", async () => {
    const ids = (await tokenizeStory()).slice(0, 64); // the decode path reads logits back per token
    const prefill = storyNll(ids, "--quant", "int4");
    const decode = storyNll(ids, "--quant", "int4", "--decode");
    const q8 = storyNll(ids, "--quant", "int4", "--decode", "--activations", "q8");
    console.log(
      `stories260K INT4 perplexity on the story: prefill ${prefill.ppl.toFixed(4)}, decode path ${decode.ppl.toFixed(4)}, ` +
        `decode path with q8 activations ${q8.ppl.toFixed(4)} (${((q8.ppl / decode.ppl - 1) * 100).toFixed(2)}%); ` +
        `greedy agreement ${(decode.agree * 100).toFixed(1)}% / ${(q8.agree * 100).toFixed(1)}%`,
    );
    expect(Math.abs(decode.ppl / prefill.ppl - 1)).toBeLessThanOrEqual(1e-3);
    expect(q8.ppl / decode.ppl).toBeLessThanOrEqual(1.02);
    expect(q8.agree).toBeGreaterThanOrEqual(decode.agree - 0.02);
  });
});

describe("weight streaming (--gpu-budget)", () => {
  // stories260K INT4 at the default context (512) as --stats reports it: 2,539,792 bytes fixed
  // (embedding/lm_head — INT8, 34,816 —, KV cache, activations) + 26,720 per layer, 2,673,392 all
  // resident. The runtime refuses budgets below fixed + slots·layer. 2.5MiB = 2,621,440 with one slot:
  // fixed + (1 slot + 2 layers)·26,720 = 2,619,952 fits, a third layer does not → 2 of 5 resident, 3
  // streamed. (2647KB = 2,647,000 would do the same with the default 2 slots.) Recompute with --stats
  // if the sizes change.
  it("streaming 3 of 5 layers gives exactly the ids and text of the resident run", () => {
    const args = ["generate", "--model", join(stories, "hf"), "--prompt", "Once", "--max-tokens", "48"];
    const resident = wisp(...args, "--temperature", "0", "--json");
    expect(resident.code, resident.stderr).toBe(0);
    const r = wisp(
      ...args,
      "--temperature",
      "0",
      "--json",
      "--gpu-budget",
      "2.5MiB",
      "--stream-slots",
      "1",
      "--stats",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(resident.stdout);
    expect(Object.keys(JSON.parse(r.stdout))).toEqual(["prompt_ids", "ids", "text"]);
    expect(r.stderr).toMatch(
      /streaming: 2 of 5 layers resident, 3 streamed through 1 slot, 80160 bytes per pass/,
    );
  });

  it("sizes: bytes, decimal and binary units", () => {
    expect(parseSize("1048576")).toBe(1048576);
    expect(parseSize("300KB")).toBe(300_000);
    expect(parseSize("512MB")).toBe(512_000_000);
    expect(parseSize("2632kb")).toBe(2_632_000);
    expect(parseSize("1.5GiB")).toBe(1.5 * 2 ** 30);
    expect(parseSize("2.5 MiB")).toBe(2_621_440);
    expect(parseSize("64KiB")).toBe(65536);
    expect(parseSize("2GB")).toBe(2e9);
    for (const bad of ["", "0", "-5", "12XB", "1e6", "MB", "0.1", "1.5.2GB", "lots"]) {
      expect(parseSize(bad), bad).toBeUndefined();
    }
  });

  it("a bad --gpu-budget or --stream-slots is a usage error (exit 2, one line)", () => {
    const model = ["generate", "--model", join(stories, "hf"), "--prompt", "x"];
    for (const bad of [
      ["--gpu-budget=12XB"],
      ["--gpu-budget=0"],
      ["--gpu-budget=-5"],
      ["--gpu-budget=lots"],
      ["--gpu-budget=1MB", "--stream-slots", "0"],
    ]) {
      const r = wisp(...model, ...bad);
      expect(r.code, bad.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n"), bad.join(" ")).toHaveLength(1);
      expect(r.stderr, bad.join(" ")).toMatch(/^wisp: UsageError: --(gpu-budget|stream-slots) must be /);
    }
    // Well-formed but below what the model needs: the runtime's RangeError names the minimum.
    const small = wisp(...model, "--gpu-budget", "1MB");
    expect(small.code).toBe(1);
    expect(small.stderr).toMatch(
      /^wisp: RangeError: a GPU memory budget of 1000000 bytes is below the minimum/,
    );
  });
});

describe("autotuning (--tune)", () => {
  // Off by default since the tuned decode step was never faster on an H200 (ARCHITECTURE.md).
  it("is off by default and with --no-tune, on with --tune, and the ids are the same", () => {
    const cache = mkdtempSync(join(tmpdir(), "wisp-tune-"));
    const run = (...extra: string[]) => {
      const args = [
        "generate",
        "--model",
        join(stories, "hf"),
        "--prompt",
        "Once upon a time",
        "--max-tokens",
      ];
      const r = spawnSync(
        process.execPath,
        [cli, ...args, "8", "--temperature", "0", "--quant", "int4", "--stats", "--json", ...extra],
        { encoding: "utf8", timeout: 280_000, env: { ...process.env, WISP_CACHE_DIR: cache } },
      );
      expect(r.status, `${extra.join(" ")}: ${r.stderr}`).toBe(0);
      return { ids: (JSON.parse(r.stdout) as { ids: number[] }).ids, stderr: r.stderr };
    };
    const off = run();
    expect(off.stderr).toContain("[autotuning off]");
    expect(run("--no-tune").stderr).toContain("[autotuning off]");
    expect(run("--tune", "--no-tune").stderr).toContain("[autotuning off]");
    const on = run("--tune");
    expect(on.stderr).toMatch(/\[autotuning: [1-9]\d* GEMV shapes/);
    expect(on.ids).toEqual(off.ids);
    expect(off.ids.length).toBeGreaterThan(1);
  });
});

describe("template", () => {
  it("renders the qwen3 and llama3_1 chat templates like transformers", () => {
    for (const name of ["qwen3", "llama3_1"]) {
      const fixture = JSON.parse(
        readFileSync(join(repo, `packages/runtime/fixtures/templates/${name}.json`), "utf8"),
      );
      type Case = {
        name: string;
        messages: unknown[];
        add_generation_prompt: boolean;
        tools: unknown;
        kwargs: object;
        text: string;
        ids: number[];
      };
      const cases = (fixture.chat_cases as Case[]).filter(
        (c) => c.add_generation_prompt && !c.tools && Object.keys(c.kwargs).length === 0,
      );
      expect(cases.length, `plain chat cases for ${name}`).toBeGreaterThanOrEqual(3);
      for (const conv of cases) {
        const file = join(mkdtempSync(join(tmpdir(), "wisp-")), "messages.json");
        writeFileSync(file, JSON.stringify(conv.messages));
        const r = wispJson<{ text: string; ids: number[] }>(
          "template",
          "--tokenizer",
          join(models, "tokenizers", name),
          "--messages",
          file,
        );
        expect(r.text, `${name} ${conv.name}`).toBe(conv.text);
        expect(r.ids, `${name} ${conv.name}`).toEqual(conv.ids);
      }
    }
  });
});

describe("bad input", () => {
  it("a missing model folder", () => {
    const r = wisp("generate", "--model", "/nonexistent/model", "--prompt", "hi");
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/model not found/);
  });

  it("an unsupported architecture names what is missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "wisp-"));
    const config = JSON.parse(readFileSync(join(stories, "hf/config.json"), "utf8"));
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ ...config, architectures: ["MistralForCausalLM"], model_type: "mistral" }),
    );
    copyFileSync(join(stories, "hf/model.safetensors"), join(dir, "model.safetensors"));
    const r = wisp("logits", "--model", dir, "--tokens", "1,2", "--json");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^wisp: UnsupportedArchitecture: .*/);
  });

  it("a truncated safetensors file is a ModelFileError", () => {
    const dir = mkdtempSync(join(tmpdir(), "wisp-"));
    copyFileSync(join(stories, "hf/config.json"), join(dir, "config.json"));
    const bytes = readFileSync(join(stories, "hf/model.safetensors"));
    writeFileSync(join(dir, "model.safetensors"), bytes.subarray(0, bytes.length - 1000));
    const r = wisp("logits", "--model", dir, "--tokens", "1,2", "--json");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^wisp: ModelFileError: /);
  });

  it("bad options and tokens outside the vocabulary", () => {
    expect(
      wisp("generate", "--model", join(stories, "hf"), "--prompt", "x", "--quant", "int3").stderr,
    ).toMatch(/--quant must be/);
    expect(wisp("logits", "--model", join(stories, "hf"), "--tokens", "1,999", "--json").stderr).toMatch(
      /outside the vocabulary/,
    );
    expect(wisp("frobnicate").code).toBe(2);
  });
});

describe("--activations", () => {
  it("refuses anything but f32 and q8 (usage error, exit 2)", () => {
    const r = wisp("generate", "--model", join(stories, "hf"), "--prompt", "", "--activations", "int8");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--activations must be f32 or q8, got "int8"');
  });

  it("q8 greedy text starts as f32's (stories260K INT4, first sentence)", () => {
    const run = (a: string) =>
      wispJson<{ text: string }>(
        "generate",
        "--model",
        join(stories, "hf"),
        "--prompt",
        "",
        "--max-tokens",
        "24",
        "--temperature",
        "0",
        "--activations",
        a,
      ).text;
    const f32 = run("f32");
    const q8 = run("q8");
    expect(q8.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
    expect(q8.slice(0, 40)).toBe(f32.slice(0, 40));
  });
});
