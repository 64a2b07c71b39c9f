// Synthetic Llama decoder in the ONNX layout of onnx-community's model_q4.onnx / ORT-GenAI's model
// builder: f32 Gather embedding, MatMulNBits (4 bits, block 32, accuracy_level 4, default zero point
// 8), GroupQueryAttention with rotary inside (do_rotary, seqlens_k/total_sequence_length derived from
// attention_mask), SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization, SiLU-gated MLP,
// past_key_values.* inputs and present.* outputs. Random non-zero weights, written as external data
// (shards ≤ 1 GiB, one tensor per shard at most) plus a manifest the reference and runner read.

import { randomFillSync } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import {
  type Attr,
  attrFloat,
  attrInt,
  DataType,
  modelProto,
  node,
  type Proto,
  tensor,
  valueInfo,
} from "./onnx.ts";

export interface Shape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  inter: number;
  vocab: number;
  ropeTheta: number;
  eps: number;
}

// Config values as in the models' config.json. The 8B layer count is what ORT-web is run with by
// default (see README.md: the 4 GB wasm heap is not what bounds it; --layers overrides).
export const SHAPES: Record<string, Shape> = {
  "llama-3.2-1b": {
    hidden: 2048,
    layers: 16,
    heads: 32,
    kvHeads: 8,
    headDim: 64,
    inter: 8192,
    vocab: 128256,
    ropeTheta: 500000,
    eps: 1e-5,
  },
  "llama-3.1-8b": {
    hidden: 4096,
    layers: 32,
    heads: 32,
    kvHeads: 8,
    headDim: 128,
    inter: 14336,
    vocab: 128256,
    ropeTheta: 500000,
    eps: 1e-5,
  },
  tiny: {
    hidden: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    inter: 160,
    vocab: 256,
    ropeTheta: 10000,
    eps: 1e-5,
  },
};

export const BLOCK = 32;
const MS = "com.microsoft";
const SHARD_BYTES = 2 ** 30;
const CHUNK = 1 << 24; // elements filled per step while streaming a big tensor

export interface TensorEntry {
  file: string;
  offset: number;
  length: number;
  dims: number[];
  type: "f32" | "u8";
}

export interface Manifest {
  version: 1;
  shape: Shape;
  maxPos: number;
  lastLogits: boolean;
  model: string;
  dataFiles: string[];
  tensors: Record<string, TensorEntry>;
  weightBytes: number;
  generateMs: number;
}

export interface GenerateOptions {
  dir: string;
  shape: Shape;
  /** Compute logits for the last position only (what a runtime needs for generation). */
  lastLogits: boolean;
  maxPos?: number;
}

const manifestKey = (o: GenerateOptions, maxPos: number): string =>
  JSON.stringify({ shape: o.shape, lastLogits: o.lastLogits, maxPos });

/** Reads the manifest of an already generated model with the same options, if any. */
export function cachedModel(o: GenerateOptions): Manifest | undefined {
  const path = join(o.dir, "manifest.json");
  if (!existsSync(path)) return undefined;
  const m = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  const same =
    manifestKey(o, o.maxPos ?? 4096) ===
    manifestKey({ ...o, shape: m.shape, lastLogits: m.lastLogits }, m.maxPos);
  return same && m.dataFiles.every((f) => existsSync(join(o.dir, f))) ? m : undefined;
}

/** Streams tensors into ≤ 1 GiB external data shards. */
class DataSink {
  readonly files: string[] = [];
  readonly tensors: Record<string, TensorEntry> = {};
  total = 0;
  private fd = -1;
  private at = 0;

  constructor(private readonly dir: string) {}

  /** Starts a tensor of `length` bytes and returns a writer for its consecutive chunks. */
  begin(name: string, type: "f32" | "u8", dims: number[], length: number): (b: Uint8Array) => void {
    const pad = (4096 - (this.at % 4096)) % 4096;
    if (this.fd < 0 || (this.at > 0 && this.at + pad + length > SHARD_BYTES)) {
      if (this.fd >= 0) closeSync(this.fd);
      const file = this.files.length === 0 ? "model.onnx.data" : `model.onnx.data_${this.files.length}`;
      this.files.push(file);
      this.fd = openSync(join(this.dir, file), "w");
      this.at = 0;
    } else if (pad) {
      writeSync(this.fd, new Uint8Array(pad));
      this.at += pad;
    }
    const file = this.files[this.files.length - 1]!;
    this.tensors[name] = { file, offset: this.at, length, dims, type };
    this.at += length;
    this.total += length;
    return (b) => {
      writeSync(this.fd, b);
    };
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

const asBytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Uniform floats in [lo, hi), from random bits (fast: one pass over a Uint32 view). */
function randomFloats(out: Float32Array, lo: number, hi: number): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  randomFillSync(bits);
  const span = (hi - lo) / 4294967296;
  for (let i = 0; i < bits.length; i++) out[i] = lo + bits[i]! * span;
}

export function generate(o: GenerateOptions): Manifest {
  const t0 = performance.now();
  const { shape: s, dir, lastLogits } = o;
  const maxPos = o.maxPos ?? 4096;
  const { hidden: H, heads: NH, kvHeads: NKV, headDim: D, inter: I, vocab: V } = s;
  mkdirSync(dir, { recursive: true });
  const sink = new DataSink(dir);
  const inits: Proto[] = [];
  const nodes: Proto[] = [];
  const external = (name: string, dt: number) => {
    const e = sink.tensors[name]!;
    inits.push(tensor(name, dt, e.dims, { location: e.file, offset: e.offset, length: e.length }));
  };
  const f32Tensor = (name: string, dims: number[], fill: (chunk: Float32Array, start: number) => void) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const write = sink.begin(name, "f32", dims, n * 4);
    for (let start = 0; start < n; start += CHUNK) {
      const chunk = new Float32Array(Math.min(CHUNK, n - start));
      fill(chunk, start);
      write(asBytes(chunk));
    }
    external(name, DataType.FLOAT);
  };
  const i64 = (name: string, dims: number[], v: bigint) =>
    inits.push(tensor(name, DataType.INT64, dims, asBytes(BigInt64Array.from([v]))));
  // W[n, k] = (code - 8) * scale[n, k / 32]: codes uniform in 0..15, scales around 1/(4.6 sqrt(K)) so
  // that a unit-variance input gives a unit-variance output.
  const nbits = (w: string, K: number, N: number) => {
    const KB = K / BLOCK;
    const q = sink.begin(`${w}.q`, "u8", [N, KB, BLOCK / 2], (N * KB * BLOCK) / 2);
    const rows = Math.max(1, Math.floor((CHUNK * 4) / ((KB * BLOCK) / 2)));
    for (let n = 0; n < N; n += rows)
      q(randomFillSync(new Uint8Array((Math.min(rows, N - n) * KB * BLOCK) / 2)));
    external(`${w}.q`, DataType.UINT8);
    const base = 1 / (4.6 * Math.sqrt(K));
    f32Tensor(`${w}.s`, [N * KB], (c) => randomFloats(c, 0.75 * base, 1.25 * base));
  };
  const mm = (x: string, w: string, K: number, N: number, out: string) => {
    const attrs = [attrInt("K", K), attrInt("N", N), attrInt("bits", 4), attrInt("block_size", BLOCK)];
    nodes.push(
      node("MatMulNBits", [x, `${w}.q`, `${w}.s`], [out], out, [...attrs, attrInt("accuracy_level", 4)], MS),
    );
    return out;
  };
  const norm = (w: string) => f32Tensor(w, [H], (c) => randomFloats(c, 0.8, 1.2));
  const eps: Attr = attrFloat("epsilon", s.eps);

  f32Tensor("embed_tokens", [V, H], (c) => randomFloats(c, -1, 1));
  i64("one", [1], 1n);
  i64("axis1", [1], 1n);
  i64("idx1", [], 1n);
  nodes.push(node("Gather", ["embed_tokens", "input_ids"], ["emb"], "embed", [attrInt("axis", 0)]));
  nodes.push(
    node("ReduceSum", ["attention_mask", "axis1"], ["mask_sum"], "mask_sum", [attrInt("keepdims", 0)]),
  );
  nodes.push(node("Sub", ["mask_sum", "one"], ["seqlens_k64"], "seqlens_sub"));
  nodes.push(node("Cast", ["seqlens_k64"], ["seqlens_k"], "seqlens_cast", [attrInt("to", DataType.INT32)]));
  nodes.push(node("Shape", ["attention_mask"], ["mask_shape"], "mask_shape"));
  nodes.push(node("Gather", ["mask_shape", "idx1"], ["total64"], "total_gather", [attrInt("axis", 0)]));
  nodes.push(node("Cast", ["total64"], ["total_seq_len"], "total_cast", [attrInt("to", DataType.INT32)]));
  const rot = (name: string, f: (a: number) => number) =>
    f32Tensor(name, [maxPos, D / 2], (c, start) => {
      for (let i = 0; i < c.length; i++) {
        const p = Math.floor((start + i) / (D / 2));
        const j = (start + i) % (D / 2);
        c[i] = f(p / s.ropeTheta ** ((2 * j) / D));
      }
    });
  rot("cos_cache", Math.cos);
  rot("sin_cache", Math.sin);

  let x = "emb";
  let res = "";
  for (let l = 0; l < s.layers; l++) {
    const p = `l${l}`;
    norm(`${p}.ln1`);
    norm(`${p}.ln2`);
    if (!res) {
      const a = [attrInt("axis", -1), eps, attrInt("stash_type", 1)];
      nodes.push(node("SimplifiedLayerNormalization", [x, `${p}.ln1`], [`${p}.n1`], `${p}.ln1`, a));
      res = x;
    } else {
      const outs = [`${p}.n1`, "", "", `${p}.r1`];
      nodes.push(node("SkipSimplifiedLayerNormalization", [x, res, `${p}.ln1`], outs, `${p}.ln1`, [eps], MS));
      res = `${p}.r1`;
    }
    nbits(`${p}.q`, H, NH * D);
    nbits(`${p}.k`, H, NKV * D);
    nbits(`${p}.v`, H, NKV * D);
    nbits(`${p}.o`, NH * D, H);
    nbits(`${p}.gate`, H, I);
    nbits(`${p}.up`, H, I);
    nbits(`${p}.down`, I, H);
    mm(`${p}.n1`, `${p}.q`, H, NH * D, `${p}.qo`);
    mm(`${p}.n1`, `${p}.k`, H, NKV * D, `${p}.ko`);
    mm(`${p}.n1`, `${p}.v`, H, NKV * D, `${p}.vo`);
    const gqaIn = [`${p}.qo`, `${p}.ko`, `${p}.vo`, `past_key_values.${l}.key`, `past_key_values.${l}.value`];
    const gqaAttrs = [
      attrInt("num_heads", NH),
      attrInt("kv_num_heads", NKV),
      attrInt("do_rotary", 1),
      attrInt("local_window_size", -1),
      attrInt("rotary_interleaved", 0),
      attrFloat("scale", 1 / Math.sqrt(D)),
    ];
    nodes.push(
      node(
        "GroupQueryAttention",
        [...gqaIn, "seqlens_k", "total_seq_len", "cos_cache", "sin_cache"],
        [`${p}.attn`, `present.${l}.key`, `present.${l}.value`],
        `${p}.gqa`,
        gqaAttrs,
        MS,
      ),
    );
    mm(`${p}.attn`, `${p}.o`, NH * D, H, `${p}.oo`);
    const outs = [`${p}.n2`, "", "", `${p}.r2`];
    nodes.push(
      node("SkipSimplifiedLayerNormalization", [`${p}.oo`, res, `${p}.ln2`], outs, `${p}.ln2`, [eps], MS),
    );
    res = `${p}.r2`;
    mm(`${p}.n2`, `${p}.gate`, H, I, `${p}.g`);
    mm(`${p}.n2`, `${p}.up`, H, I, `${p}.u`);
    nodes.push(node("Sigmoid", [`${p}.g`], [`${p}.sg`], `${p}.sigmoid`));
    nodes.push(node("Mul", [`${p}.g`, `${p}.sg`], [`${p}.silu`], `${p}.silu`));
    nodes.push(node("Mul", [`${p}.silu`, `${p}.u`], [`${p}.m`], `${p}.gated`));
    x = mm(`${p}.m`, `${p}.down`, I, H, `${p}.d`);
  }
  f32Tensor("lnf", [H], (c) => randomFloats(c, 0.8, 1.2));
  nodes.push(node("SkipSimplifiedLayerNormalization", [x, res, "lnf"], ["nf"], "lnf", [eps], MS));
  let head = "nf";
  if (lastLogits) {
    // Only the last position's hidden state goes through lm_head.
    i64("last_start", [1], -1n);
    i64("last_end", [1], 2n ** 62n);
    nodes.push(node("Slice", ["nf", "last_start", "last_end", "axis1"], ["nf_last"], "last_position"));
    head = "nf_last";
  }
  nbits("lm_head", H, V);
  mm(head, "lm_head", H, V, "logits");
  sink.close();

  const kvIn = ["batch_size", NKV, "past_sequence_length", D];
  const kvOut = ["batch_size", NKV, "total_sequence_length", D];
  const inputs = [
    valueInfo("input_ids", DataType.INT64, ["batch_size", "sequence_length"]),
    valueInfo("attention_mask", DataType.INT64, ["batch_size", "total_sequence_length"]),
  ];
  const outputs = [
    valueInfo("logits", DataType.FLOAT, ["batch_size", lastLogits ? 1 : "sequence_length", V]),
  ];
  for (let l = 0; l < s.layers; l++) {
    for (const kv of ["key", "value"]) {
      inputs.push(valueInfo(`past_key_values.${l}.${kv}`, DataType.FLOAT, kvIn));
      outputs.push(valueInfo(`present.${l}.${kv}`, DataType.FLOAT, kvOut));
    }
  }
  const bytes = modelProto({
    name: "wisp_peer_llama",
    nodes,
    initializers: inits,
    inputs,
    outputs,
    opsets: [
      ["", 17],
      [MS, 1],
    ],
  });
  writeFileSync(join(dir, "model.onnx"), bytes);
  const manifest: Manifest = {
    version: 1,
    shape: s,
    maxPos,
    lastLogits,
    model: "model.onnx",
    dataFiles: sink.files,
    tensors: sink.tensors,
    weightBytes: sink.total,
    generateMs: Math.round(performance.now() - t0),
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return manifest;
}

/** Bytes the decoder streams per token: every MatMulNBits weight (codes + scales) and the
 * embedding row; what a bandwidth-bound decode step must read. */
export function decodeWeightBytes(s: Shape): number {
  const nb = (K: number, N: number) => (K * N) / 2 + (K / BLOCK) * N * 4;
  const layer =
    nb(s.hidden, s.heads * s.headDim) +
    2 * nb(s.hidden, s.kvHeads * s.headDim) +
    nb(s.heads * s.headDim, s.hidden) +
    2 * nb(s.hidden, s.inter) +
    nb(s.inter, s.hidden);
  return s.layers * layer + nb(s.hidden, s.vocab) + s.hidden * 4;
}
