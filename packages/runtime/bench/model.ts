// Model bench: whole-model prefill and decode with random (non-zero) INT4 weights of real shapes,
// and weight streaming under GPU memory budgets, next to the same run's copy-kernel bandwidth (the
// roofline) and queue.writeBuffer bandwidth. Prints a compact table; with OUT set, writes
// $OUT/model-bench.json.
//   node dist/model-bench.mjs [--quick] [--stream] [shape-filter]
// --quick: tiny shapes and short runs (SwiftShader, CI smoke). --stream: also the streaming runs.
import { writeFileSync } from "node:fs";
import { nodeDevice } from "@wisp/gpu-test/node";
import { f32ToF16Bits } from "@wisp/kernels";
import { copyDispatch } from "../../../kernels/bench/copy.ts";
import { timeRuns, writeBufferBandwidth } from "../../../kernels/bench/timer.ts";
import type { ModelConfig } from "../src/config.ts";
import { Engine, residencyPlan } from "../src/engine/engine.ts";
import { kvCacheBytes } from "../src/model/kv-cache.ts";
import { allocateLinear, destroyLinear, linearBuffers, linearBytes } from "../src/model/linear.ts";
import { activationBytes } from "../src/model/llama.ts";
import { groupNames, weightsFromPacked } from "../src/model/packed.ts";
import { headBytes, layerBuffers } from "../src/model/streaming.ts";
import { allocateLayer } from "../src/model/weights.ts";

const MB = 1 << 20;
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const stream = args.includes("--stream");
const filter = args.find((a) => !a.startsWith("--"));

const llama = (o: Partial<ModelConfig>): ModelConfig => ({
  architecture: "LlamaForCausalLM",
  modelType: "llama",
  hiddenSize: 2048,
  intermediateSize: 8192,
  numLayers: 16,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 64,
  vocabSize: 128256,
  rmsNormEps: 1e-5,
  ropeTheta: 500000,
  ropeScaling: { type: "none" },
  tieWordEmbeddings: true,
  attentionBias: false,
  qkNorm: false,
  maxPositionEmbeddings: 131072,
  bosTokenId: 1,
  eosTokenIds: [2],
  ...o,
});

/** The shapes of their config.json files (rope scaling does not change the cost). */
const SHAPES: Record<string, ModelConfig> = quick
  ? {
      "tiny-llama": llama({
        hiddenSize: 512,
        intermediateSize: 2048,
        numLayers: 8,
        numHeads: 8,
        numKvHeads: 2,
        headDim: 64,
        vocabSize: 1024,
      }),
    }
  : {
      "smollm2-135m": llama({
        hiddenSize: 576,
        intermediateSize: 1536,
        numLayers: 30,
        numHeads: 9,
        numKvHeads: 3,
        headDim: 64,
        vocabSize: 49152,
        ropeTheta: 100000,
      }),
      "qwen2.5-0.5b": {
        ...llama({
          hiddenSize: 896,
          intermediateSize: 4864,
          numLayers: 24,
          numHeads: 14,
          numKvHeads: 2,
          headDim: 64,
          vocabSize: 151936,
          ropeTheta: 1000000,
        }),
        architecture: "Qwen2ForCausalLM",
        modelType: "qwen2",
        attentionBias: true,
      },
      "llama-3.2-1b": llama({}),
      "llama-3.1-8b": llama({
        hiddenSize: 4096,
        intermediateSize: 14336,
        numLayers: 32,
        numHeads: 32,
        numKvHeads: 8,
        headDim: 128,
        tieWordEmbeddings: false,
      }),
    };
const STREAM_SHAPES = quick ? ["tiny-llama"] : ["llama-3.2-1b", "llama-3.1-8b"];

/** xorshift32 words. */
function fillRandom(u32: Uint32Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < u32.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    u32[i] = x >>> 0;
  }
}

/**
 * Random packed groups laid out exactly as the runtime's (allocate the real structure once to learn
 * the buffers, then fill by kind): INT4 nibbles uniform, block scales ≈ 1/(4.6·√K) so activations
 * stay O(1), norms 1, biases 0. Cached per (shape, group) so budget runs reuse the bytes.
 */
function randomGroups(device: GPUDevice, c: ModelConfig, seed: number) {
  const cache = new Map<string, Uint8Array>();
  const fill = (bufs: GPUBuffer[], k: number, s: number): Uint8Array => {
    const out = new Uint8Array(bufs.reduce((a, b) => a + b.size, 0));
    let o = 0;
    const scale = f32ToF16Bits(1 / (4.6 * Math.sqrt(k)));
    bufs.forEach((b, i) => {
      const words = new Uint32Array(out.buffer, o, b.size / 4);
      if (b.label.endsWith(".qweight")) fillRandom(words, s * 977 + i);
      else if (b.label.endsWith(".scales")) words.fill(scale | (scale << 16));
      else if (b.label.endsWith(".bias")) words.fill(0);
      else new Float32Array(out.buffer, o, b.size / 4).fill(1);
      o += b.size;
    });
    return out;
  };
  return async (group: string): Promise<Uint8Array> => {
    let bytes = cache.get(group);
    if (bytes) return bytes;
    if (group === "embed" || group === "lm_head") {
      const l = allocateLinear(device, group, c.vocabSize, c.hiddenSize, "int4", false);
      bytes = fill(linearBuffers(l), c.hiddenSize, seed + (group === "embed" ? 1 : 2));
      destroyLinear(l);
    } else if (group === "norm") {
      bytes = new Uint8Array(new Float32Array(Math.ceil(c.hiddenSize / 4) * 4).fill(1).buffer);
    } else {
      const i = Number(group.slice(6));
      const l = allocateLayer(device, c, "int4", i);
      // K per matrix: the fill only needs a plausible scale; use the layer's widest input
      bytes = fill(layerBuffers(l), Math.max(c.hiddenSize, c.intermediateSize), seed + 10 + i);
      for (const b of layerBuffers(l)) b.destroy();
    }
    cache.set(group, bytes);
    return bytes;
  };
}

const ids = (n: number, vocab: number, seed: number) =>
  Array.from({ length: n }, (_, i) => ((Math.imul(i + 1, 2654435761) ^ seed) >>> 0) % vocab);

interface Row {
  shape: string;
  budget: string;
  residentLayers: number;
  streamedLayers: number;
  weightBytes: number;
  bytesPerToken: number;
  loadMs: number;
  compileMs: number;
  ttftMs512?: number;
  prefillTokS512?: number;
  prefillTflops?: number;
  decodeTokS128: number;
  decodeTokS4096?: number;
  bandwidthFraction128: number;
  bandwidthFraction4096?: number;
  dispatchesPerLayer: number;
  dispatchesPerToken: number;
  submitsPerToken: number;
  jsMsPerToken: number;
  gpuMsPerToken128: number;
  bytesStreamedPerToken?: number;
  uploadGBs?: number;
  uploadOfWriteBuffer?: number;
}

async function run(
  device: GPUDevice,
  name: string,
  c: ModelConfig,
  read: (g: string) => Promise<Uint8Array>,
  copyBw: number,
  writeBw: number,
  budget?: { label: string; bytes: number },
): Promise<Row & { totalBytes: number }> {
  const longCtx = !quick && !budget;
  const opts = {
    contextLength: quick ? 64 : longCtx ? 4096 + 64 : 256,
    ...(budget ? { gpuMemoryBudget: budget.bytes } : {}),
  };
  const plan = residencyPlan(c, opts);
  // The random weights exist before the clock starts (as a cached model's files do): the load time
  // is upload + pipeline build + warm-up, comparable to the peer's session create + first run.
  for (const g of groupNames(c)) await read(g);
  const t0 = performance.now();
  const weights = await weightsFromPacked(device, c, "int4", read, plan.residency);
  const engine = await Engine.fromWeights(device, c, weights, plan, opts);
  const loadMs = performance.now() - t0;
  try {
    const s = engine.streamStats;
    const weightBytes =
      engine.memory.perLayerBytes * c.numLayers + headBytes(weights.embed, c.tieWordEmbeddings);
    // Bytes one decode step must read: every layer and lm_head (the embedding gathers one row).
    const bytesPerToken = weightBytes - (c.tieWordEmbeddings ? 0 : linearBytes(weights.embed));
    const steps = quick ? 8 : budget ? (c.hiddenSize >= 4096 ? 6 : 16) : 64;
    const decodeAt = async (ctx: number) => {
      const prompt = ids(ctx - 1, c.vocabSize, 7);
      const before = { ...engine.counters };
      const r = await engine.generate(prompt, { maxTokens: steps + 1, temperature: 0, ignoreEos: true });
      const n = r.ids.length - 1;
      return {
        tokS: n / (r.timings.decodeMs / 1e3),
        submits: (engine.counters.submits - before.submits) / r.ids.length,
        jsMs: (engine.counters.loopHostMs - before.loopHostMs) / r.ids.length,
      };
    };
    let ttft: number | undefined;
    if (!budget) {
      const prompt = ids(quick ? 48 : 512, c.vocabSize, 3);
      await engine.generate(prompt, { maxTokens: 1, temperature: 0, ignoreEos: true }); // warm the 512 pipelines
      const r = await engine.generate(prompt, { maxTokens: 1, temperature: 0, ignoreEos: true });
      ttft = r.timings.prefillMs;
    }
    const d128 = await decodeAt(quick ? 16 : 128);
    const d4096 = longCtx ? await decodeAt(4096) : undefined;
    const pass = engine.graph.decodePass!;
    const dispatches =
      pass.head.length + pass.streamed.reduce((a, l) => a + l.dispatches.length, 0) + pass.tail.length + 1;
    const perLayer =
      (pass.head.length - 1 + pass.streamed.reduce((a, l) => a + l.dispatches.length, 0)) / c.numLayers;
    const promptLen = quick ? 48 : 512;
    const matFlops = 2 * promptLen * (bytesPerToken / 0.5625); // ≈ 2·T·params (INT4 is 4.5 bits/weight)
    const row: Row & { totalBytes: number } = {
      shape: name,
      budget: budget?.label ?? "resident",
      residentLayers: s?.residentLayers ?? c.numLayers,
      streamedLayers: s?.streamedLayers ?? 0,
      weightBytes,
      totalBytes: engine.memory.totalBytes,
      bytesPerToken,
      loadMs,
      compileMs: engine.loadTimings.compileMs,
      decodeTokS128: d128.tokS,
      bandwidthFraction128: (bytesPerToken * d128.tokS) / copyBw,
      dispatchesPerLayer: perLayer,
      dispatchesPerToken: dispatches,
      submitsPerToken: d128.submits,
      jsMsPerToken: d128.jsMs,
      gpuMsPerToken128: 1e3 / d128.tokS,
    };
    if (ttft !== undefined) {
      row.ttftMs512 = ttft;
      row.prefillTokS512 = promptLen / (ttft / 1e3);
      row.prefillTflops = matFlops / (ttft / 1e3) / 1e12;
    }
    if (d4096) {
      row.decodeTokS4096 = d4096.tokS;
      row.bandwidthFraction4096 = (bytesPerToken * d4096.tokS) / copyBw;
    }
    if (s) {
      row.bytesStreamedPerToken = s.bytesPerPass;
      row.uploadGBs = (s.bytesPerPass * d128.tokS) / 1e9;
      row.uploadOfWriteBuffer = (s.bytesPerPass * d128.tokS) / writeBw;
    }
    return row;
  } finally {
    engine.destroy();
  }
}

async function main(): Promise<void> {
  const { device, adapterInfo } = await nodeDevice();
  console.log(`adapter: ${JSON.stringify(adapterInfo)}`);
  const copyBytes = (quick ? 16 : 512) * MB;
  const copy = await timeRuns(device, [[copyDispatch(device, copyBytes)]], {
    reps: quick ? 2 : 20,
    samples: 7,
  });
  const copyBw = (2 * copyBytes) / copy.seconds;
  const writeBw = await writeBufferBandwidth(device, (quick ? 16 : 256) * MB);
  console.log(
    `copy kernel ${(copyBw / 1e9).toFixed(1)} GB/s; writeBuffer ${(writeBw / 1e9).toFixed(2)} GB/s`,
  );
  const rows: Array<Row & { totalBytes: number }> = [];
  for (const [name, c] of Object.entries(SHAPES)) {
    if (filter && !name.includes(filter)) continue;
    const read = randomGroups(device, c, 1234);
    const resident = await run(device, name, c, read, copyBw, writeBw);
    rows.push(resident);
    print(resident);
    if (stream && STREAM_SHAPES.includes(name)) {
      // Budget = the streaming run's KV cache + activations (context 256) + a fraction of the weights.
      const ctx = quick ? 64 : 256;
      const nonWeights = kvCacheBytes(c, ctx) + activationBytes(c, ctx);
      for (const f of [0.5, 0.25]) {
        const bytes = nonWeights + Math.floor(resident.weightBytes * f);
        try {
          const r = await run(device, name, c, read, copyBw, writeBw, {
            label: `${f * 100}% of weights`,
            bytes,
          });
          rows.push(r);
          print(r);
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          console.log(`${name} [${f * 100}% of weights = ${bytes} B]: ${e.message}`);
        }
      }
    }
  }
  const out = process.env.OUT;
  if (out) {
    writeFileSync(
      `${out}/model-bench.json`,
      JSON.stringify(
        { adapter: adapterInfo, copyGBs: copyBw / 1e9, writeBufferGBs: writeBw / 1e9, rows },
        null,
        1,
      ),
    );
  }
  console.log(`\ncopy ${(copyBw / 1e9).toFixed(0)} GB/s, writeBuffer ${(writeBw / 1e9).toFixed(2)} GB/s`);
  console.log(
    "| shape | budget | res/stream | MB/token | decode tok/s @128 | % copy | @4096 | % copy | prefill512 tok/s | TFLOP/s | TTFT ms | disp/layer | submits/tok | JS ms/tok | GPU ms/tok | upload GB/s | % writeBuffer | compile ms |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const f = (v: number | undefined, d = 1) => (v === undefined ? "" : v.toFixed(d));
    console.log(
      `| ${r.shape} | ${r.budget} | ${r.residentLayers}/${r.streamedLayers} | ${f(r.bytesPerToken / 1e6, 0)} | ${f(r.decodeTokS128)} | ${f(r.bandwidthFraction128 * 100)} | ${f(r.decodeTokS4096)} | ${f(r.bandwidthFraction4096 && r.bandwidthFraction4096 * 100)} | ${f(r.prefillTokS512, 0)} | ${f(r.prefillTflops, 2)} | ${f(r.ttftMs512, 0)} | ${f(r.dispatchesPerLayer, 1)} | ${f(r.submitsPerToken, 2)} | ${f(r.jsMsPerToken, 3)} | ${f(r.gpuMsPerToken128, 2)} | ${f(r.uploadGBs, 2)} | ${f(r.uploadOfWriteBuffer && r.uploadOfWriteBuffer * 100)} | ${f(r.compileMs, 0)} |`,
    );
  }
}

function print(r: Row): void {
  console.log(
    `${r.shape} [${r.budget}] ${r.residentLayers}/${r.streamedLayers} layers resident/streamed: decode@128 ${r.decodeTokS128.toFixed(1)} tok/s (${(r.bandwidthFraction128 * 100).toFixed(1)}% of copy)` +
      (r.decodeTokS4096 ? `, @4096 ${r.decodeTokS4096.toFixed(1)} tok/s` : "") +
      (r.ttftMs512 ? `, TTFT(512) ${r.ttftMs512.toFixed(0)} ms` : "") +
      (r.uploadGBs ? `, upload ${r.uploadGBs.toFixed(2)} GB/s` : ""),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
