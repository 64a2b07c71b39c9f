import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { dequantizeInt4, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, repackQ4_0 } from "@wisp/kernels";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.ts";
import { ModelFileError, type WispError } from "../src/errors.ts";
import { openGguf } from "../src/loader/gguf.ts";
import { openModel } from "../src/loader/model.ts";
import { folderSource } from "../src/loader/node-files.ts";
import { openSafetensors } from "../src/loader/safetensors.ts";
import { type FileSource, filesSource, memorySource, requireFile } from "../src/loader/source.ts";
import { assertFinite, toF32 } from "../src/loader/tensor.ts";
import { hfResolveUrl, hfSource, urlSource } from "../src/loader/url-source.ts";
import { badInputs } from "./fixtures/bad-inputs.ts";
import { type GgufTensorSpec, q4Blocks, q8Blocks, tinyLlamaMeta, writeGguf } from "./fixtures/gguf-writer.ts";
import { serveFiles, type TestServer } from "./fixtures/http-server.ts";
import {
  counting,
  permuteRows,
  removeTempModels,
  STORIES_GGUF,
  STORIES_HF,
  storiesFiles,
  tempModel,
} from "./fixtures/model-files.ts";
import { f32Bytes, seeded, writeSafetensors } from "./fixtures/safetensors-writer.ts";

afterAll(removeTempModels);

const same = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

/** Awaits a rejection and checks its class, message and details.kind. */
async function rejects(p: Promise<unknown>, cls: typeof WispError, re: RegExp, kind?: string) {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, `expected ${cls.name} matching ${re}`).toBeInstanceOf(cls);
  expect((e as Error).message).toMatch(re);
  if (kind) expect((e as WispError).details?.["kind"]).toBe(kind);
  return e as WispError;
}

describe("file sources", () => {
  const files = {
    "a.bin": new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    "config.json": new Uint8Array([123, 125]),
  };
  let server: TestServer;
  beforeAll(async () => {
    server = await serveFiles(files);
  });
  afterAll(() => server.close());

  const kinds: Array<[string, () => FileSource]> = [
    ["memory", () => memorySource(files)],
    ["File objects", () => filesSource(Object.entries(files).map(([n, b]) => new File([b], n)))],
    ["folder (Node)", () => folderSource(tempModel(files))],
    ["URL (Range requests)", () => urlSource(server.url, { files: Object.keys(files) })],
  ];
  for (const [name, make] of kinds) {
    it(`${name}: list, size, ranged reads, truncation and missing files`, async () => {
      const s = make();
      expect((await s.list()).sort()).toEqual(["a.bin", "config.json"]);
      expect(await s.size("a.bin")).toBe(10);
      expect([...(await s.read("a.bin"))]).toEqual([...files["a.bin"]]);
      expect([...(await s.read("a.bin", 3, 7))]).toEqual([3, 4, 5, 6]);
      expect((await s.read("a.bin", 4, 4)).length).toBe(0);
      await rejects(s.read("a.bin", 5, 11), ModelFileError, /truncated/, "truncated");
      await rejects(s.read("a.bin", 12, 14), ModelFileError, /truncated/, "truncated");
      await rejects(s.size("nope.bin"), ModelFileError, /"nope\.bin" not found/, "missing_file");
    });
  }

  it("URL source sends Range headers and probes the standard names when not given a list", async () => {
    const st = await serveFiles(storiesFiles());
    try {
      const s = urlSource(st.url);
      expect(await s.list()).toEqual([
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
      ]);
      st.requests.length = 0;
      await s.read("model.safetensors", 8, 16);
      expect(st.requests).toEqual([{ path: "model.safetensors", range: "bytes=8-15" }]);
    } finally {
      await st.close();
    }
  });

  it("URL source still works when the server ignores Range", async () => {
    const st = await serveFiles(files, { ignoreRange: true });
    try {
      const s = urlSource(st.url, { files: ["a.bin"] });
      expect(await s.size("a.bin")).toBe(10);
      expect([...(await s.read("a.bin", 2, 5))]).toEqual([2, 3, 4]);
      await rejects(s.read("a.bin", 2, 50), ModelFileError, /truncated/, "truncated");
    } finally {
      await st.close();
    }
  });

  it("Hugging Face ids resolve to /resolve/<revision>/ and list through the tree API", async () => {
    expect(hfResolveUrl("HuggingFaceTB/SmolLM2-135M-Instruct")).toBe(
      "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/",
    );
    expect(hfResolveUrl("org/m", "v1.0")).toBe("https://huggingface.co/org/m/resolve/v1.0/");
    expect(() => hfResolveUrl("../etc/passwd")).toThrow(TypeError);
    const tree = JSON.stringify([
      { type: "file", path: "a.bin", size: 10 },
      { type: "directory", path: "sub" },
    ]);
    const st = await serveFiles({
      "api/models/org/m/tree/main": tree,
      "org/m/resolve/main/a.bin": files["a.bin"],
    });
    try {
      const s = hfSource("org/m", { endpoint: st.url });
      expect(await s.list()).toEqual(["a.bin"]);
      expect(await s.size("a.bin")).toBe(10);
      expect([...(await s.read("a.bin", 1, 3))]).toEqual([1, 2]);
      await rejects(
        hfSource("org/none", { endpoint: st.url }).list(),
        ModelFileError,
        /not found on the hub/,
      );
    } finally {
      await st.close();
    }
  });

  it("requireFile names the missing file", async () => {
    await requireFile(memorySource(files), "config.json");
    const e = await rejects(
      requireFile(memorySource(files), "tokenizer.json", "the tokenizer"),
      ModelFileError,
      /"tokenizer\.json" is missing \(needed for the tokenizer\)/,
      "missing_file",
    );
    expect(e.details?.["file"]).toBe("tokenizer.json");
  });
});

describe("safetensors", () => {
  it("stories260K: reads only the header up front, then tensors by range", async () => {
    const src = counting(folderSource(STORIES_HF));
    const set = await openSafetensors(src);
    expect(src.bytesRead).toBe(8 + 4848);
    expect(set.tensors.size).toBe(47);
    const q = set.tensors.get("model.layers.0.self_attn.q_proj.weight")!;
    expect(q).toEqual({
      name: "model.layers.0.self_attn.q_proj.weight",
      dtype: "F32",
      shape: [64, 64],
      file: "model.safetensors",
      byteOffset: 8 + 4848 + 131328,
      byteLength: 16384,
    });
    const t = await set.readTensor(q.name);
    expect(src.bytesRead).toBe(8 + 4848 + 16384);
    const raw = readFileSync(join(STORIES_HF, "model.safetensors"));
    expect(Buffer.from(t.data).equals(raw.subarray(q.byteOffset, q.byteOffset + q.byteLength))).toBe(true);
    const f = toF32("F32", t.data);
    assertFinite(q.name, "F32", f);
    expect(f[0]).toBe(new DataView(raw.buffer, raw.byteOffset).getFloat32(q.byteOffset, true));
  });

  it("openModel on stories260K over HTTP: config, validation, same bytes as the folder", async () => {
    const st = await serveFiles(storiesFiles());
    try {
      const m = await openModel(urlSource(st.url));
      expect(m.format).toBe("safetensors");
      expect(m.config.numLayers).toBe(5);
      const local = await openSafetensors(folderSource(STORIES_HF));
      const name = "model.layers.4.mlp.down_proj.weight";
      expect(same((await m.tensors.readTensor(name)).data, (await local.readTensor(name)).data)).toBe(true);
    } finally {
      await st.close();
    }
  });

  it("sharded checkpoints through model.safetensors.index.json", async () => {
    const local = await openSafetensors(folderSource(STORIES_HF));
    const names = [...local.tensors.keys()];
    const entries = await Promise.all(
      names.map(async (name) => ({ name, ...(await local.readTensor(name)), dtype: "F32" })),
    );
    const half = 20;
    const shards = {
      "model-00001-of-00002.safetensors": writeSafetensors(entries.slice(0, half)),
      "model-00002-of-00002.safetensors": writeSafetensors(entries.slice(half)),
    };
    const weightMap = Object.fromEntries(
      names.map((n, i) => [
        n,
        i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors",
      ]),
    );
    const index = new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const set = await openSafetensors(memorySource({ ...shards, "model.safetensors.index.json": index }));
    expect([...set.tensors.keys()].sort()).toEqual([...names].sort());
    expect(set.tensors.get(names[30]!)!.file).toBe("model-00002-of-00002.safetensors");
    for (const n of [names[0]!, names[half]!, names.at(-1)!]) {
      expect(same((await set.readTensor(n)).data, (await local.readTensor(n)).data)).toBe(true);
    }
    weightMap["model.norm.weight"] = "model-00001-of-00002.safetensors";
    const badIndex = new TextEncoder().encode(JSON.stringify({ weight_map: weightMap }));
    await rejects(
      openSafetensors(memorySource({ ...shards, "model.safetensors.index.json": badIndex })),
      ModelFileError,
      /"model\.norm\.weight" is listed .* but that shard does not hold it/,
      "missing_tensor",
    );
  });

  it("toF32 widens F16 and BF16 exactly, from any byte offset", () => {
    const vals = [0, -0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, 0.1, Math.E, -1e-3, 1e-7];
    const h = new Uint16Array(vals.map(f32ToF16Bits));
    const b = new Uint16Array(vals.map(f32ToBf16Bits));
    const unaligned = (u: Uint16Array) => {
      const buf = new Uint8Array(u.byteLength + 1);
      buf.set(new Uint8Array(u.buffer), 1);
      return buf.subarray(1);
    };
    expect([...toF32("F16", unaligned(h))]).toEqual([...h].map(f16BitsToF32));
    expect([...toF32("BF16", unaligned(b))]).toEqual(
      [...b].map((x) => new Float32Array(new Uint32Array([x << 16]).buffer)[0]),
    );
    expect([...toF32("F32", unaligned(new Uint16Array(new Float32Array([1.5, -2]).buffer)))]).toEqual([
      1.5, -2,
    ]);
  });

  it("assertFinite: NaN-only and partly non-finite tensors, in every dtype", () => {
    const nan = new Float32Array(8).fill(Number.NaN);
    expect(() => assertFinite("w", "F32", nan)).toThrow(/"w" has NaN-only weights/);
    expect(() => assertFinite("w", "F16", new Uint8Array(new Uint16Array(4).fill(0x7e00).buffer))).toThrow(
      /NaN-only/,
    );
    const inf = new Uint8Array(new Uint16Array([0x3c00, 0x7f80, 0]).buffer);
    expect(() => assertFinite("b", "BF16", inf)).toThrow(/"b" has non-finite values: 1 of 3 .* element 1/);
    assertFinite("ok", "F16", new Uint8Array(new Uint16Array([0x3c00, 0x7bff, 0x8000]).buffer));
  });
});

describe("GGUF", () => {
  it("stories260K-f32.gguf: same ModelConfig and bit-identical tensors as the HF checkpoint", async () => {
    const g = await openGguf(folderSource(dirname(STORIES_GGUF)));
    const hfConfig = JSON.parse(readFileSync(join(STORIES_HF, "config.json"), "utf8"));
    const gen = JSON.parse(readFileSync(join(STORIES_HF, "generation_config.json"), "utf8"));
    expect(g.config).toEqual(parseConfig(hfConfig, gen));
    const hf = await openSafetensors(folderSource(STORIES_HF));
    expect([...g.tensors.tensors.keys()].sort()).toEqual([...hf.tensors.keys()].sort());
    let permutedDiffer = 0;
    for (const [name, info] of hf.tensors) {
      const a = await g.tensors.readTensor(name);
      const b = await hf.readTensor(name);
      expect(a.shape, name).toEqual(info.shape);
      expect(a.dtype).toBe("F32");
      expect(same(a.data, b.data), name).toBe(true);
      // The GGUF bytes themselves differ for q/k: the un-permutation is doing real work.
      const gi = g.tensors.tensors.get(name)!;
      const raw = readFileSync(STORIES_GGUF).subarray(gi.byteOffset, gi.byteOffset + gi.byteLength);
      if (!same(raw, b.data)) permutedDiffer++;
    }
    expect(permutedDiffer).toBe(10); // q and k of 5 layers
    const opened = await openModel(folderSource(dirname(STORIES_GGUF)));
    expect(opened).toMatchObject({ format: "gguf", ggufFile: "stories260K-f32.gguf", config: g.config });
  });

  // A tiny llama: hidden 64, 4 heads × 16 (2 KV heads), ff 96.
  it("Q4_0 stays raw (rows un-permuted) and repacks losslessly; Q8_0 and F16 dequantize exactly", async () => {
    const qHf = q4Blocks(64, 64, 1);
    const kHf = new Uint8Array(new Uint16Array(Array.from(seeded(32 * 64, 2), f32ToF16Bits)).buffer);
    const down = q8Blocks(64, 96, 3);
    const tensors: GgufTensorSpec[] = [
      { name: "blk.0.attn_q.weight", dims: [64, 64], type: 2, data: permuteRows(qHf, 64, 4) },
      { name: "blk.0.attn_k.weight", dims: [64, 32], type: 1, data: permuteRows(kHf, 32, 2) },
      { name: "blk.0.ffn_down.weight", dims: [96, 64], type: 8, data: down },
    ];
    const g = await openGguf(memorySource({ "m.gguf": writeGguf(tinyLlamaMeta(), tensors) }));
    expect(g.config).toMatchObject({
      hiddenSize: 64,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      rmsNormEps: 1e-6,
    });
    expect(g.config).toMatchObject({
      ropeTheta: 500000,
      vocabSize: 32,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 256,
    });

    const q = await g.tensors.readTensor("model.layers.0.self_attn.q_proj.weight");
    expect(q).toMatchObject({ dtype: "Q4_0", shape: [64, 64] });
    expect(same(q.data, qHf)).toBe(true);
    const m = repackQ4_0(q.data, 64, 64);
    const deq = dequantizeInt4(m);
    // Q4_0 reference: block = f16 d + 16 bytes, byte j = element j (low nibble) | element j+16 (high).
    for (const [row, col] of [
      [0, 0],
      [5, 17],
      [63, 63],
      [31, 40],
    ] as const) {
      const o = (row * 2 + (col >> 5)) * 18;
      const d = f16BitsToF32(qHf[o]! | (qHf[o + 1]! << 8));
      const i = col % 32;
      const nib = i < 16 ? qHf[o + 2 + i]! & 0xf : qHf[o + 2 + i - 16]! >> 4;
      expect(deq[row * 64 + col]).toBe((nib - 8) * d);
    }

    const k = await g.tensors.readTensor("model.layers.0.self_attn.k_proj.weight");
    expect(k).toMatchObject({ dtype: "F16", shape: [32, 64] });
    expect(same(k.data, kHf)).toBe(true);

    const dn = await g.tensors.readTensor("model.layers.0.mlp.down_proj.weight");
    expect(dn).toMatchObject({ dtype: "F32", shape: [64, 96] });
    const f = toF32("F32", dn.data);
    const d = f16BitsToF32(0x2e66);
    for (const idx of [0, 31, 32, 95, 96 * 64 - 1]) {
      const blk = Math.floor(idx / 32);
      expect(f[idx]).toBe(((down[blk * 34 + 2 + (idx % 32)]! << 24) >> 24) * d);
    }
  });

  it("qwen2 GGUF: biases mapped, no q/k permutation", async () => {
    const q = f32Bytes(seeded(64 * 64, 4));
    const g = await openGguf(
      memorySource({
        "q.gguf": writeGguf(tinyLlamaMeta("qwen2"), [
          { name: "blk.0.attn_q.weight", dims: [64, 64], type: 0, data: q },
          { name: "blk.0.attn_q.bias", dims: [64], type: 0, data: f32Bytes(seeded(64, 5)) },
          { name: "output.weight", dims: [64, 32], type: 0, data: f32Bytes(seeded(64 * 32, 6)) },
        ]),
      }),
    );
    expect(g.config).toMatchObject({
      architecture: "Qwen2ForCausalLM",
      attentionBias: true,
      tieWordEmbeddings: false,
    });
    expect([...g.tensors.tensors.keys()]).toEqual([
      "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.self_attn.q_proj.bias",
      "lm_head.weight",
    ]);
    expect(same((await g.tensors.readTensor("model.layers.0.self_attn.q_proj.weight")).data, q)).toBe(true);
  });

  it("Llama 3 rope_freqs.weight becomes llama3 rope scaling", async () => {
    // convert_hf_to_gguf.py's factors for factor 32, low 1, high 4, original 8192, in f32.
    const freqs = Array.from({ length: 8 }, (_, i) => Math.fround(1 / 500000 ** ((2 * i) / 16)));
    const factors = freqs.map((fr) => {
      const wavelen = (2 * Math.PI) / fr;
      if (wavelen < 8192 / 4) return 1;
      if (wavelen > 8192) return 32;
      const smooth = (8192 / wavelen - 1) / 3;
      return 1 / ((1 - smooth) / 32 + smooth);
    });
    expect(new Set(factors).size).toBeGreaterThan(2); // some frequencies are in the smoothed band
    const g = await openGguf(
      memorySource({
        "l.gguf": writeGguf(tinyLlamaMeta(), [
          { name: "rope_freqs.weight", dims: [8], type: 0, data: f32Bytes(factors) },
        ]),
      }),
    );
    expect(g.config.ropeScaling).toEqual({
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(g.tensors.tensors.has("rope_freqs.weight")).toBe(false);
  });
});

describe("bad inputs give typed errors, no crash or hang (files generated in a temp dir)", () => {
  for (const c of badInputs()) {
    it(c.name, async () => {
      const e = await rejects(c.run(), c.error, c.message, c.kind);
      if (c.details) expect(e.details).toMatchObject(c.details);
    }, 20_000);
  }
});
