// The model bench's measurement, shared by the Node bench (model.ts) and the browser page
// (bench/page): whole-model prefill and decode on random (non-zero) INT4 weights of real shapes, on
// whatever GPUDevice the host gives it.

import { median } from "../../../kernels/src/timing.ts";
import type { ModelConfig } from "../src/config.ts";
import { Engine, residencyPlan } from "../src/engine/engine.ts";
import { linearBytes } from "../src/model/linear.ts";
import { groupNames, weightsFromPacked } from "../src/model/packed.ts";
import { headBytes } from "../src/model/streaming.ts";
import { Uploader } from "../src/model/upload.ts";
import { decodeStepUs, type Profile, profileDecode } from "./profile.ts";

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
export function benchShapes(quick: boolean): Record<string, ModelConfig> {
  return quick
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
}

const ids = (n: number, vocab: number, seed: number) =>
  Array.from({ length: n }, (_, i) => ((Math.imul(i + 1, 2654435761) ^ seed) >>> 0) % vocab);

export interface Row {
  shape: string;
  budget: string;
  residentLayers: number;
  streamedLayers: number;
  weightBytes: number;
  bytesPerToken: number;
  loadMs: number;
  /** of loadMs: the weights in GPU buffers (weightsFromPacked: allocation + upload) */
  weightsMs: number;
  compileMs: number;
  /** of loadMs: the warm-up generation (prefill pipelines built, first dispatches) */
  warmupMs: number;
  /** the fastest of the prefill trials (ttftTrials512) */
  ttftMs512?: number;
  /** every prefill trial's time to first token, ms */
  ttftTrials512?: number[];
  prefillTokS512?: number;
  prefillTflops?: number;
  decodeTokS128: number;
  /** (max − min) / max of the decode trials at 128 (decodeTokS128 is the fastest trial) */
  decodeSpread128: number;
  decodeTrials128: number[];
  decodeTokS4096?: number;
  /** the autotuned engine (LoadOptions.tune, 2 s budget) on the same weights and context */
  tunedDecodeTokS128?: number;
  tunedDecodeSpread128?: number;
  /** --profile: the GPU time of one decode step at ctx 128 (Profile.stepUs) */
  stepUs128?: number;
  /** --profile: the same on the autotuned engine */
  tunedStepUs128?: number;
  /** the engine with q8 activations (LoadOptions.activations) on the same weights and context */
  q8DecodeTokS128?: number;
  q8BandwidthFraction128?: number;
  /** --profile: its decode step's GPU time at ctx 128 */
  q8StepUs128?: number;
  tuneMs?: number;
  tuneReports?: unknown[];
  bandwidthFraction128: number;
  bandwidthFraction4096?: number;
  dispatchesPerLayer: number;
  dispatchesPerToken: number;
  submitsPerToken: number;
  jsMsPerToken: number;
  gpuMsPerToken128: number;
  bytesStreamedPerToken?: number;
  uploadGBs?: number;
  /** streaming's achieved upload rate ÷ the same run's staged-upload bandwidth (uploadBandwidth) */
  uploadOfStaged?: number;
  /** where the decode step's GPU time goes (--profile) */
  profile?: Profile;
}

export async function benchShape(
  device: GPUDevice,
  quick: boolean,
  name: string,
  c: ModelConfig,
  read: (g: string) => Promise<Uint8Array>,
  copyBw: number,
  /** the same run's uploadBandwidth (what streaming uploads through) */
  uploadBw: number,
  budget?: { label: string; bytes: number },
  /** "tuned" / "q8": a second engine on the same weights (LoadOptions.tune / activations "q8"), decode at 128 only */
  variant: "default" | "tuned" | "q8" = "default",
  profile = false,
): Promise<Row & { totalBytes: number }> {
  const tuned = variant === "tuned";
  const second = variant !== "default";
  // A second engine gets the default one's context: the attention split count follows the capacity.
  const longCtx = !quick && !budget;
  const opts = {
    contextLength: quick ? 64 : longCtx ? 4096 + 64 : 256,
    ...(budget ? { gpuMemoryBudget: budget.bytes } : {}),
    ...(tuned ? { tune: { budgetMs: 2000 } } : {}),
    ...(variant === "q8" ? { activations: "q8" as const } : {}),
  };
  const plan = residencyPlan(c, opts);
  // The random weights exist before the clock starts (as a cached model's files do): the load time
  // is upload + pipeline build + warm-up, comparable to the peer's session create + first run.
  for (const g of groupNames(c)) await read(g);
  const t0 = performance.now();
  const weights = await weightsFromPacked(device, c, "int4", read, plan.residency);
  const weightsMs = performance.now() - t0;
  const engine = await Engine.fromWeights(device, c, weights, plan, opts);
  const loadMs = performance.now() - t0;
  try {
    const s = engine.streamStats;
    const weightBytes = engine.memory.perLayerBytes * c.numLayers + headBytes(weights.embed, weights.lmHead);
    // Bytes one decode step must read: every layer and lm_head (the embedding gathers one row).
    const bytesPerToken = weightBytes - (c.tieWordEmbeddings ? 0 : linearBytes(weights.embed));
    const steps = quick ? 8 : budget ? (c.hiddenSize >= 4096 ? 6 : 16) : 64;
    // Decode trials: the fastest is reported (the least disturbed), with the spread beside it.
    const decodeAt = async (ctx: number, trials: number) => {
      const prompt = ids(ctx - 1, c.vocabSize, 7);
      const before = { ...engine.counters };
      const tokS: number[] = [];
      let generated = 0;
      for (let i = 0; i < trials; i++) {
        const r = await engine.generate(prompt, { maxTokens: steps + 1, temperature: 0, ignoreEos: true });
        tokS.push((r.ids.length - 1) / (r.timings.decodeMs / 1e3));
        generated += r.ids.length;
      }
      const best = Math.max(...tokS);
      return {
        tokS: best,
        trials: tokS,
        spread: (best - Math.min(...tokS)) / best,
        submits: (engine.counters.submits - before.submits) / generated,
        jsMs: (engine.counters.loopHostMs - before.loopHostMs) / generated,
      };
    };
    const trials = quick || budget ? 1 : 3;
    let ttft: number | undefined;
    const ttftTrials: number[] = [];
    if (!budget && !second) {
      const prompt = ids(quick ? 48 : 512, c.vocabSize, 3);
      await engine.generate(prompt, { maxTokens: 1, temperature: 0, ignoreEos: true }); // warm the 512 pipelines
      // Best of `trials` (one run was seen anywhere from 55 to 119 ms for the same 1B prefill on an H200).
      for (let i = 0; i < trials; i++) {
        const r = await engine.generate(prompt, { maxTokens: 1, temperature: 0, ignoreEos: true });
        ttftTrials.push(r.timings.prefillMs);
      }
      ttft = Math.min(...ttftTrials);
    }
    const d128 = await decodeAt(quick ? 16 : 128, trials);
    const d4096 = longCtx && !second ? await decodeAt(4096, trials) : undefined;
    const pass = engine.graph.decodePass!;
    const dispatches =
      pass.head.length + pass.streamed.reduce((a, l) => a + l.dispatches.length, 0) + pass.tail.length + 1;
    const perLayer =
      (pass.head.length - 1 + pass.streamed.reduce((a, l) => a + l.dispatches.length, 0)) / c.numLayers;
    const promptLen = quick ? 48 : 512;
    // ≈ 2·T·layer params (INT4 is 4.5 bits a weight); prefill runs the (INT8) lm_head on one row only
    const matFlops = 2 * promptLen * ((engine.memory.perLayerBytes * c.numLayers) / 0.5625);
    const row: Row & { totalBytes: number } = {
      shape: name,
      budget: budget?.label ?? "resident",
      residentLayers: s?.residentLayers ?? c.numLayers,
      streamedLayers: s?.streamedLayers ?? 0,
      weightBytes,
      totalBytes: engine.memory.totalBytes,
      bytesPerToken,
      loadMs,
      weightsMs,
      compileMs: engine.loadTimings.compileMs,
      warmupMs: engine.loadTimings.warmupMs,
      decodeTokS128: d128.tokS,
      decodeSpread128: d128.spread,
      decodeTrials128: d128.trials,
      bandwidthFraction128: (bytesPerToken * d128.tokS) / copyBw,
      dispatchesPerLayer: perLayer,
      dispatchesPerToken: dispatches,
      submitsPerToken: d128.submits,
      jsMsPerToken: d128.jsMs,
      gpuMsPerToken128: 1e3 / d128.tokS,
    };
    if (ttft !== undefined) {
      row.ttftMs512 = ttft;
      row.ttftTrials512 = ttftTrials;
      row.prefillTokS512 = promptLen / (ttft / 1e3);
      row.prefillTflops = matFlops / (ttft / 1e3) / 1e12;
    }
    if (d4096) {
      row.decodeTokS4096 = d4096.tokS;
      row.bandwidthFraction4096 = (bytesPerToken * d4096.tokS) / copyBw;
    }
    if (profile && second) row.stepUs128 = await decodeStepUs(engine, quick ? 16 : 128, quick);
    else if (profile) {
      row.profile = await profileDecode(engine, copyBw, quick ? 16 : 128, quick);
      row.stepUs128 = row.profile.stepUs;
    }
    if (engine.tuning) {
      row.tuneMs = engine.loadTimings.tuneMs;
      row.tuneReports = engine.tuning.reports;
    }
    if (s) {
      row.bytesStreamedPerToken = s.bytesPerPass;
      row.uploadGBs = (s.bytesPerPass * d128.tokS) / 1e9;
      row.uploadOfStaged = (s.bytesPerPass * d128.tokS) / uploadBw;
    }
    return row;
  } finally {
    engine.destroy();
  }
}

export function print(r: Row): void {
  console.log(
    `${r.shape} [${r.budget}] ${r.residentLayers}/${r.streamedLayers} layers resident/streamed: decode@128 ${r.decodeTokS128.toFixed(1)} tok/s (${(r.bandwidthFraction128 * 100).toFixed(1)}% of copy)` +
      (r.decodeTokS4096 ? `, @4096 ${r.decodeTokS4096.toFixed(1)} tok/s` : "") +
      (r.q8DecodeTokS128
        ? `, q8 activations @128 ${r.q8DecodeTokS128.toFixed(1)} tok/s (${((r.q8BandwidthFraction128 ?? 0) * 100).toFixed(1)}%)`
        : "") +
      (r.ttftMs512 ? `, TTFT(512) ${r.ttftMs512.toFixed(0)} ms` : "") +
      (r.uploadGBs ? `, upload ${r.uploadGBs.toFixed(2)} GB/s` : "") +
      `, load ${r.loadMs.toFixed(0)} ms (weights ${r.weightsMs.toFixed(0)}, compile ${r.compileMs.toFixed(0)}, warm-up ${r.warmupMs.toFixed(0)})`,
  );
}

/** The compact markdown table of a run (the Node bench prints it, the page shows it). */
export function table(rows: readonly Row[]): string[] {
  const out = [
    "| shape | budget | res/stream | MB/token | decode tok/s @128 (spread) | % copy | q8 @128 | % copy | tuned @128 | tune ms | @4096 | % copy | prefill512 tok/s | TFLOP/s | TTFT ms | disp/layer | submits/tok | JS ms/tok | GPU ms/tok | upload GB/s | % staged | load ms | compile ms |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const f = (v: number | undefined, d = 1) => (v === undefined ? "" : v.toFixed(d));
    out.push(
      `| ${r.shape} | ${r.budget} | ${r.residentLayers}/${r.streamedLayers} | ${f(r.bytesPerToken / 1e6, 0)} | ${f(r.decodeTokS128)} (${f(r.decodeSpread128 * 100, 0)}%) | ${f(r.bandwidthFraction128 * 100)} | ${f(r.q8DecodeTokS128)} | ${f(r.q8BandwidthFraction128 && r.q8BandwidthFraction128 * 100)} | ${f(r.tunedDecodeTokS128)} | ${f(r.tuneMs, 0)} | ${f(r.decodeTokS4096)} | ${f(r.bandwidthFraction4096 && r.bandwidthFraction4096 * 100)} | ${f(r.prefillTokS512, 0)} | ${f(r.prefillTflops, 2)} | ${f(r.ttftMs512, 0)} | ${f(r.dispatchesPerLayer, 1)} | ${f(r.submitsPerToken, 2)} | ${f(r.jsMsPerToken, 3)} | ${f(r.gpuMsPerToken128, 2)} | ${f(r.uploadGBs, 2)} | ${f(r.uploadOfStaged && r.uploadOfStaged * 100)} | ${f(r.loadMs, 0)} | ${f(r.compileMs, 0)} |`,
    );
  }
  return out;
}

/**
 * Host → GPU bytes/s through the weight uploader (src/model/upload.ts: the staging ring loads and
 * streaming use), `bytes` at a time into one buffer, until the GPU holds them; median of `rounds`.
 */
export async function uploadBandwidth(device: GPUDevice, bytes: number, rounds = 5): Promise<number> {
  const buf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const data = new Uint8Array(bytes).map((_, i) => (i * 31 + 7) & 0xff);
  const up = new Uploader(device);
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds + 1; i++) {
      const t0 = performance.now();
      await up.write(buf, 0, data);
      await up.done();
      if (i > 0) times.push((performance.now() - t0) / 1e3);
    }
  } finally {
    up.destroy();
    buf.destroy();
  }
  return bytes / median(times);
}
