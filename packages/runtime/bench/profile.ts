// Where a decode step's GPU time goes: the whole step's dispatches timed back to back in one pass (no
// sampler, no host), each dispatch position of a layer timed on its own across all layers (rotating
// over the layers' weights, so the weights stream from DRAM as in a real step, not from L2), the head
// and tail dispatches, and an empty dispatch (the per-dispatch floor). Weight-reading GEMVs get their
// bandwidth as a fraction of the same run's copy kernel.
import { type Dispatch, makeDispatch, timeRuns } from "@wisp/kernels";
import type { Engine } from "../src/engine/engine.ts";
import { linearBytes } from "../src/model/linear.ts";

export interface ProfileRow {
  /** "layer[j]", "head[j]" or "tail[j]" and the kernel's name */
  position: string;
  kernel: string;
  workgroups: number;
  /** median µs of one dispatch of this position */
  us: number;
  /** how many of them one step runs */
  count: number;
  /** weight bytes one dispatch reads (GEMVs) */
  bytes?: number;
  ofCopy?: number;
}

export interface Profile {
  /** context length of the profiled step */
  ctx: number;
  /** the step's dispatches back to back (µs): what the GPU needs per token without the host */
  stepUs: number;
  /** one layer's dispatches back to back, rotating over the layers (µs) */
  layerUs: number;
  /** Σ of the positions' times × counts (µs); stepUs − this is what running them back to back saves */
  sumUs: number;
  /** an empty dispatch (µs): the per-dispatch floor on this device */
  emptyUs: number;
  dispatches: number;
  rows: ProfileRow[];
}

const EMPTY = {
  name: "empty",
  code: "@group(0) @binding(0) var<storage, read_write> b: array<u32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x == 0xffffffffu) { b[0] = 1u; } }",
  bindings: ["storage"] as const,
};

/**
 * GPU µs of one decode step at context `ctx`, its dispatches back to back (no host, no sampler), after
 * a few hundred ms of the step to warm the clocks: what an A/B of kernel variants compares (the
 * variants' times alone do not predict it; ARCHITECTURE.md, "Raw loads ahead").
 */
export async function decodeStepUs(engine: Engine, ctx: number, quick = false): Promise<number> {
  return (await timeStep(engine, ctx, quick)).stepUs;
}

async function timeStep(engine: Engine, ctx: number, quick: boolean) {
  const { device, graph } = engine;
  const pass = graph.decodePass;
  if (!pass) throw new Error("decode step: the engine has none yet");
  if (pass.streamed.length) throw new Error("decode step: resident models only");
  if (ctx < 1 || ctx > engine.contextLength)
    throw new RangeError(`decode step: ctx ${ctx} outside the context`);
  device.queue.writeBuffer(graph.act.pos, 0, Uint32Array.of(ctx - 1, 0, 0, 0));
  const step = [...pass.head, ...pass.tail];
  const time = async (runs: Dispatch[][], reps: number) =>
    (
      await timeRuns(
        device,
        runs,
        quick ? { reps: 1, samples: 1, warmup: 0 } : { reps, samples: 7, warmup: 3 },
      )
    ).seconds * 1e6;
  // Warm the clocks: a few hundred ms of the real step before anything is timed.
  if (!quick) await timeRuns(device, [step], { reps: 100, samples: 2, warmup: 1 });
  return { pass, step, time, stepUs: await time([step], 20) };
}

/**
 * Profiles the decode step at context `ctx` (the step's token at position ctx − 1; the KV cache holds
 * whatever the last generate left, the cost only depends on the length). quick: few repetitions
 * (SwiftShader smoke runs); the numbers then only show that it runs.
 */
export async function profileDecode(
  engine: Engine,
  copyBw: number,
  ctx: number,
  quick = false,
): Promise<Profile> {
  const { device, graph, config: c } = engine;
  const { pass, step, time, stepUs } = await timeStep(engine, ctx, quick);
  const perLayer = (pass.head.length - 1) / c.numLayers;
  const layers = Array.from({ length: c.numLayers }, (_, i) =>
    pass.head.slice(1 + i * perLayer, 1 + (i + 1) * perLayer),
  );
  const layerUs = await time(layers, 4 * c.numLayers);
  // The layer's GEMVs in graph order (fused decode: qkv, o, gateUp, down; unfused the same order).
  const l0 = graph.weights.layers[0]!;
  const gemvBytes = [l0.qkv, l0.o, l0.gateUp, l0.down].map(linearBytes);
  const isGemv = (d: Dispatch) => d.label.endsWith("_gemv");
  const layerGemvs = layers[0]!.filter(isGemv).length;
  const rows: ProfileRow[] = [];
  const row = async (position: string, runs: Dispatch[][], count: number, bytes?: number) => {
    const d = runs[0]![0]!;
    const us = await time(runs, Math.max(20, 4 * runs.length));
    rows.push({
      position,
      kernel: d.label,
      workgroups: d.workgroups[0] * d.workgroups[1] * d.workgroups[2],
      us,
      count,
      ...(bytes === undefined ? {} : { bytes, ofCopy: bytes / (us / 1e6) / copyBw }),
    });
  };
  await row("head[0]", [[pass.head[0]!]], 1);
  let g = 0;
  for (let j = 0; j < perLayer; j++) {
    const d = layers[0]![j]!;
    const bytes = isGemv(d) && layerGemvs === gemvBytes.length ? gemvBytes[g++] : undefined;
    await row(
      `layer[${j}]`,
      layers.map((l) => [l[j]!]),
      c.numLayers,
      bytes,
    );
  }
  const headBytes = linearBytes(graph.weights.lmHead);
  for (let j = 0; j < pass.tail.length; j++) {
    const d = pass.tail[j]!;
    await row(`tail[${j}]`, [[d]], 1, isGemv(d) && pass.tail.length === 2 && j === 1 ? headBytes : undefined);
  }
  const scratch = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const empty = makeDispatch(device, EMPTY, {}, [scratch], [1, 1, 1]);
  const emptyUs = await time([[empty]], 200);
  scratch.destroy();
  return {
    ctx,
    stepUs,
    layerUs,
    sumUs: rows.reduce((a, r) => a + r.us * r.count, 0),
    emptyUs,
    dispatches: step.length,
    rows,
  };
}

/** The profile as markdown lines. */
export function profileTable(shape: string, p: Profile): string[] {
  const out = [
    `${shape} @${p.ctx}: step ${p.stepUs.toFixed(0)} µs on the GPU (${p.dispatches} dispatches; Σ positions ${p.sumUs.toFixed(0)} µs), layer ${p.layerUs.toFixed(1)} µs, empty dispatch ${p.emptyUs.toFixed(2)} µs`,
    "| position | kernel | workgroups | µs | × | share of step | MB | % copy |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of p.rows) {
    out.push(
      `| ${r.position} | ${r.kernel} | ${r.workgroups} | ${r.us.toFixed(1)} | ${r.count} | ${((100 * r.us * r.count) / p.sumUs).toFixed(1)}% | ${r.bytes === undefined ? "" : (r.bytes / 1e6).toFixed(1)} | ${r.ofCopy === undefined ? "" : (100 * r.ofCopy).toFixed(1)} |`,
    );
  }
  return out;
}
