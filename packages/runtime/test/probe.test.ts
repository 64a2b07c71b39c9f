// The device probe (src/probe.ts) on Dawn (SwiftShader without a GPU): it runs the real kernels on random
// INT4 weights within its time budget and gives a positive speed; its memory numbers and streaming plan
// are the ones a real load of the same model makes; a tensor over this GPU's buffer limit is "too-large"
// without allocating anything; and it stops on abort.
import { nodeDevice } from "@wisp/gpu-test/node";
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../src/config.ts";
import { Engine, residencyPlan } from "../src/engine/engine.ts";
import { Aborted } from "../src/errors.ts";
import { weightsFromPacked } from "../src/model/packed.ts";
import { randomGroups } from "../src/model/random-weights.ts";
import { type ProbeProgress, probeModel } from "../src/probe.ts";

const small: ModelConfig = {
  architecture: "LlamaForCausalLM",
  modelType: "llama",
  hiddenSize: 256,
  intermediateSize: 704,
  numLayers: 6,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 64,
  vocabSize: 2048,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: { type: "none" },
  tieWordEmbeddings: true,
  attentionBias: false,
  qkNorm: false,
  maxPositionEmbeddings: 512,
  bosTokenId: 1,
  eosTokenIds: [2],
};
const CONTEXT = 256;

/** A real engine of the whole model on the same random weights, loaded as the probe plans it. */
async function realLoad(c: ModelConfig, gpuMemoryBudget?: number): Promise<Engine> {
  const { device } = await nodeDevice();
  const opts = { contextLength: CONTEXT, ...(gpuMemoryBudget ? { gpuMemoryBudget } : {}) };
  const plan = residencyPlan(c, opts);
  const weights = await weightsFromPacked(device, c, "int4", randomGroups(device, c, 1), plan.residency);
  return Engine.fromWeights(device, c, weights, plan, opts);
}

describe("probeModel", () => {
  it("times the real kernels within its budget, extrapolates from 1 and 3 layers, and plans memory as a load does", async () => {
    const { device } = await nodeDevice();
    const events: ProbeProgress[] = [];
    const budgetMs = 1500;
    const r = await probeModel(device, small, {
      budgetMs,
      contextLength: CONTEXT,
      onProgress: (p) => events.push(p),
    });
    console.log(
      `probe (hidden 256, 6 layers): ${r.decodeTokS?.toFixed(1)} tok/s, ${r.msPerToken?.toFixed(2)} ms/token, ` +
        `${JSON.stringify(r.measured)}, ${r.elapsedMs.toFixed(0)} ms; ${r.method}; ${r.reason}`,
    );
    expect(r.decodeTokS).toBeGreaterThan(0);
    expect(r.msPerToken! * r.decodeTokS!).toBeCloseTo(1000, 6);
    expect(r.layersMeasured).toEqual([1, 3]);
    for (const m of r.measured) expect(m.tokens).toBeGreaterThanOrEqual(2);
    expect(r.method).toMatch(/^extrapolated/);
    // The estimate lies on the line through the two timed engines.
    const [a, b] = r.measured;
    const perLayer = Math.max(0, (b!.msPerToken - a!.msPerToken) / 2);
    expect(r.msPerToken).toBeCloseTo(Math.max(0, a!.msPerToken - perLayer) + 6 * perLayer, 6);
    // Within budget: each engine stops timing at the first step past its share, but runs at least
    // MIN_TOKENS counted steps — on SwiftShader (~1 s a step) that minimum is what overruns 1.5 s: the
    // prompt's prefill, an uncounted first step, 2 counted ones and 2 still queued, per engine.
    // Building the engines is outside the budget (SwiftShader compiles pipelines on the CPU).
    const overrun = r.measured.reduce((s, m) => s + 10 * m.msPerToken, 0);
    expect(r.measureMs).toBeLessThan(budgetMs + overrun + 1000);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(r.buildMs + r.measureMs);
    expect(r.fits).toBe(true);
    expect(r.verdict).toBe("fits");
    expect(r.budgetSource).toBe("assumed");
    expect(r.gpuMemoryBudget).toBe(2 * 2 ** 30);
    expect(r.plan).toBeUndefined();
    expect(r.contextLength).toBe(CONTEXT);
    expect(events[0]!.phase).toBe("layout");
    expect(events.map((e) => e.phase)).toContain("measure");
    expect(events.at(-1)).toEqual({ phase: "done", fraction: 1 });
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.fraction).toBeGreaterThanOrEqual(events[i - 1]!.fraction);
    }
    // The same numbers as a real load of the whole model.
    const e = await realLoad(small);
    try {
      expect(r.totalBytes).toBe(e.memory.totalBytes);
      expect(r.weightBytes + r.kvBytes + r.activationBytes).toBe(e.memory.totalBytes);
      expect(r.kvBytes).toBeGreaterThanOrEqual(e.graph.kv.bytes);
      expect(r.kvBytes).toBeLessThanOrEqual(e.graph.kv.bytes + 4 * CONTEXT); // + the page table
    } finally {
      e.destroy();
    }
  });

  it("a budget below the model: the streaming plan a load with that budget makes, uploads included", async () => {
    const { device } = await nodeDevice();
    const full = await realLoad(small);
    const { fixedBytes, perLayerBytes } = full.memory;
    full.destroy();
    const budget = fixedBytes + 4 * perLayerBytes; // 2 slots + 2 resident layers
    const r = await probeModel(device, small, {
      budgetMs: 600,
      contextLength: CONTEXT,
      gpuMemoryBudget: budget,
    });
    console.log(`streaming: ${JSON.stringify(r.plan)}; ${r.decodeTokS?.toFixed(1)} tok/s; ${r.reason}`);
    expect(r.fits).toBe(false);
    expect(r.verdict).toBe("streaming");
    expect(r.budgetSource).toBe("given");
    const e = await realLoad(small, budget);
    try {
      expect(r.plan).toMatchObject({
        residentLayers: e.streamStats!.residentLayers,
        streamedLayers: e.streamStats!.streamedLayers,
        slots: e.streamStats!.slots,
        bytesPerPass: e.streamStats!.bytesPerPass,
        residentBytes: e.memory.residentBytes,
      });
    } finally {
      e.destroy();
    }
    expect(r.plan!.residentLayers).toBe(2);
    expect(r.plan!.uploadMsPerToken).toBeGreaterThan(0);
    expect(r.method).toContain("streamed layers");
    expect(r.decodeTokS).toBeGreaterThan(0);
  });

  it("a model of ≤ 3 layers is timed whole (Qwen2 biases, Qwen3 q/k norms); below even streaming's minimum", async () => {
    const { device } = await nodeDevice();
    const qwen2 = { architecture: "Qwen2ForCausalLM", modelType: "qwen2", attentionBias: true } as const;
    const r = await probeModel(
      device,
      { ...small, ...qwen2, numLayers: 2 },
      { budgetMs: 300, contextLength: 64 },
    );
    expect(r.layersMeasured).toEqual([2]);
    expect(r.method).toMatch(/^timed whole/);
    expect(r.decodeTokS).toBeGreaterThan(0);
    expect(r.verdict).toBe("fits");
    // Under the minimum even streaming needs: too large, but still measured.
    const qwen3 = { architecture: "Qwen3ForCausalLM", modelType: "qwen3", qkNorm: true } as const;
    const tiny = await probeModel(
      device,
      { ...small, ...qwen3, numLayers: 2 },
      { budgetMs: 300, contextLength: 64, gpuMemoryBudget: 1e5 },
    );
    console.log(`below the minimum: ${tiny.reason}`);
    expect(tiny).toMatchObject({ fits: false, verdict: "too-large", layersMeasured: [2] });
    expect(tiny.reason).toMatch(/^Even streaming/);
    expect(tiny.decodeTokS).toBeGreaterThan(0);
  });

  it("a tensor over this GPU's buffer limit: too large, decided before any GPU memory or random weights", async () => {
    const { device } = await nodeDevice();
    const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
    // An INT4 embedding row of 2048 is 64 blocks of 18 bytes (INT8: 34): half again as many rows as
    // the limit holds even in INT4.
    const vocabSize = Math.ceil((1.5 * limit) / (64 * 18));
    const huge = { ...small, hiddenSize: 2048, numHeads: 32, numKvHeads: 8, vocabSize };
    const r = await probeModel(device, huge, { budgetMs: 300 });
    console.log(`over the limit (${limit} B): ${r.reason} (${r.elapsedMs.toFixed(0)} ms)`);
    expect(r).toMatchObject({ fits: false, verdict: "too-large", decodeTokS: null, layersMeasured: [] });
    expect(r.reason).toMatch(/embedding table/);
    expect(r.weightBytes).toBeGreaterThan(limit);
    expect(r.elapsedMs).toBeLessThan(200);
  });

  it("abort: before it starts, and while it measures", async () => {
    const { device } = await nodeDevice();
    const before = new AbortController();
    before.abort();
    await expect(probeModel(device, small, { signal: before.signal })).rejects.toBeInstanceOf(Aborted);
    const during = new AbortController();
    const t0 = performance.now();
    const run = probeModel(device, small, {
      budgetMs: 60_000,
      contextLength: CONTEXT,
      signal: during.signal,
      onProgress: (p) => {
        if (p.phase === "measure") during.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(Aborted);
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});
