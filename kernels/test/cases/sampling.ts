import {
  type GuardedOutput,
  guardedOutput,
  POISON,
  randomNormalF32,
  readGuarded,
  readGuardedF32,
  rng,
  SENTINEL,
  SENTINEL_WORDS,
  uploadBuffer,
} from "@wisp/gpu-test";
import { type Dispatch, type KernelSource, makeDispatch, runDispatches } from "../../src/kernel.ts";
import { philox4x32_10, philoxU01 } from "../../src/sampling/philox.ts";
import { penalizeRef, penaltyCountsRef, sampleRef } from "../../src/sampling/sampling.ref.ts";
import {
  argmaxSample,
  packSamplingParams,
  penaltyCounts,
  philoxWgsl,
  resolveSamplingParams,
  type SamplerIO,
  type SamplingParams,
  sampleTopK,
} from "../../src/sampling/sampling.ts";
import type { KernelCase } from "../case.ts";

// Tokens must match the reference exactly (the candidate order and the penalized logits are
// bit-exact; steps the reference flags as ambiguous, |u - CDF step| < 1e-5 and the like, are not
// compared and are counted in the log). Log-probabilities: the GPU sums V f32 exps (WGSL allows
// exp a few ulp of error, and drivers rewrite exp(a - b)) against an f64 reference; measured
// |error| <= 1.5e-6 on SwiftShader and on an H100, so 1e-5.
const LOGPROB_TOL = 1e-5;

// ---------------------------------------------------------------------------------------------
// Philox

const KAT: [number[], number[], number[]][] = [
  // Random123 kat_vectors, philox4x32_10: counter, key, expected.
  [
    [0, 0, 0, 0],
    [0, 0],
    [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
  ],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

const philoxTestSource: KernelSource = {
  name: "philox_test",
  code: `${philoxWgsl}
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let r = philox4x32_10(vec4<u32>(i * 2654435761u, i, ~i, 7u), vec2<u32>(0x12345678u ^ i, 0x9abcdef0u));
  out[i * 5u] = r.x;
  out[i * 5u + 1u] = r.y;
  out[i * 5u + 2u] = r.z;
  out[i * 5u + 3u] = r.w;
  out[i * 5u + 4u] = bitcast<u32>(philox_u01(r.x));
}`,
  bindings: ["storage"],
};

function philoxCase(): KernelCase {
  const n = 4096;
  return {
    name: `philox4x32-10 known answers (CPU) and GPU == CPU on ${n} counters`,
    smoke: true,
    async run(device) {
      for (const [ctr, key, want] of KAT) {
        const got = philox4x32_10(ctr as [number, number, number, number], key as [number, number]);
        if (got.some((w, i) => w !== want[i])) throw new Error(`philox KAT ${ctr}: got ${got}, want ${want}`);
      }
      const out = guardedOutput(device, n * 5);
      runDispatches(device, [makeDispatch(device, philoxTestSource, {}, [out.buffer], [n / 64, 1, 1])]);
      const words = await readGuarded(device, out);
      const f = new Float32Array(1);
      const fw = new Uint32Array(f.buffer);
      for (let i = 0; i < n; i++) {
        const r = philox4x32_10(
          [Math.imul(i, 2654435761) >>> 0, i, ~i >>> 0, 7],
          [(0x12345678 ^ i) >>> 0, 0x9abcdef0],
        );
        f[0] = philoxU01(r[0]);
        const want = [...r, fw[0]!];
        for (let j = 0; j < 5; j++) {
          if (words[i * 5 + j] !== want[j]) {
            throw new Error(`philox counter ${i} word ${j}: GPU ${words[i * 5 + j]}, CPU ${want[j]}`);
          }
        }
      }
      return "bit-exact";
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A u32 buffer: payload words then sentinels (readGuarded checks them). */
function guardedInit(device: GPUDevice, data: Uint32Array): GuardedOutput {
  const init = new Uint32Array(data.length + SENTINEL_WORDS);
  init.set(data);
  init.fill(SENTINEL, data.length);
  return { buffer: uploadBuffer(device, init), words: data.length };
}

interface Env {
  vocab: number;
  logits: Float32Array;
  /** Initial counts (or zeros when penalties are off; then never read). */
  counts: Uint32Array;
  params: SamplingParams;
  startStep: number;
  steps: number;
  ring: number;
}

interface GpuRun {
  tokens: Uint32Array;
  logprobs: Float32Array;
  state: Uint32Array;
  counts: Uint32Array;
}

/** Queues `steps` decode steps in one submission (the sampler advances the step itself). */
async function runSampler(device: GPUDevice, env: Env, make: (io: SamplerIO) => Dispatch[]): Promise<GpuRun> {
  const counts = guardedInit(device, env.counts);
  const state = guardedInit(device, new Uint32Array([env.startStep, POISON, 7, 7]));
  const tokenOut = guardedOutput(device, env.ring);
  const logprobOut = guardedOutput(device, env.ring);
  const params = uploadBuffer(device, new Uint32Array(packSamplingParams(env.params)));
  const io: SamplerIO = {
    logits: uploadBuffer(device, env.logits),
    counts: counts.buffer,
    params,
    state: state.buffer,
    tokenOut: tokenOut.buffer,
    logprobOut: logprobOut.buffer,
  };
  const one = make(io);
  const all: Dispatch[] = [];
  for (let s = 0; s < env.steps; s++) all.push(...one);
  runDispatches(device, all);
  return {
    tokens: await readGuarded(device, tokenOut),
    logprobs: await readGuardedF32(device, logprobOut),
    state: await readGuarded(device, state),
    counts: await readGuarded(device, counts),
  };
}

interface Checked {
  compared: number;
  ambiguous: number;
  maxLogprobErr: number;
}

/**
 * Replays the steps on the CPU (the counts advance by each emitted token when penalties are on) and
 * checks every ring slot that the last `ring` steps wrote, the state words and the counts.
 */
function checkRun(env: Env, kMax: number, run: GpuRun): Checked {
  const p = resolveSamplingParams(env.params);
  const counts = env.counts.slice();
  const got = new Map<number, { token: number; logprob: number }>();
  for (let s = 0; s < env.steps; s++) {
    const step = env.startStep + s;
    const slot = step % env.ring;
    if (s >= env.steps - env.ring) got.set(s, { token: run.tokens[slot]!, logprob: run.logprobs[slot]! });
  }
  let compared = 0;
  let ambiguous = 0;
  let maxLogprobErr = 0;
  let last = -1;
  for (let s = 0; s < env.steps; s++) {
    const step = env.startStep + s;
    const ref = sampleRef(penalizeRef(env.logits, counts, p), p, step, kMax);
    const g = got.get(s);
    let token = ref.token;
    if (g) {
      if (ref.ambiguous) {
        ambiguous++;
        if (!ref.kept.includes(g.token)) throw new Error(`step ${step}: token ${g.token} not among kept`);
        token = g.token;
      } else {
        if (g.token !== ref.token) {
          throw new Error(`step ${step}: GPU token ${g.token}, reference ${ref.token} (u ${ref.u})`);
        }
        const err = Math.abs(g.logprob - ref.logprob);
        if (!(err <= LOGPROB_TOL)) {
          throw new Error(`step ${step}: logprob ${g.logprob}, reference ${ref.logprob} (err ${err})`);
        }
        maxLogprobErr = Math.max(maxLogprobErr, err);
        compared++;
      }
    } else if (ref.ambiguous) {
      throw new Error(`step ${step} (overwritten in the ring) is ambiguous: pick another start step`);
    }
    if (p.penalize) counts[token] = (counts[token]! + 1) >>> 0;
    last = token;
  }
  if (run.state[0] !== (env.startStep + env.steps) >>> 0 || run.state[1] !== last) {
    throw new Error(`state ${run.state[0]}, ${run.state[1]}; want ${env.startStep + env.steps}, ${last}`);
  }
  if (run.state[2] !== 7 || run.state[3] !== 7) throw new Error("state words 2..3 were written");
  for (let i = 0; i < env.vocab; i++) {
    if (run.counts[i] !== counts[i]) throw new Error(`counts[${i}] = ${run.counts[i]}, want ${counts[i]}`);
  }
  if (compared === 0) throw new Error("no unambiguous step to compare");
  return { compared, ambiguous, maxLogprobErr };
}

function summary(c: Checked): string {
  return `${c.compared} steps match, ${c.ambiguous} ambiguous skipped, max |logprob err| ${c.maxLogprobErr.toExponential(2)}`;
}

type Maker = "argmax" | { kMax: number; wg?: number; wgFinal?: number; cap?: number };

function maker(device: GPUDevice, env: Env, m: Maker): (io: SamplerIO) => Dispatch[] {
  const shape = { vocab: env.vocab, ring: env.ring };
  if (m === "argmax") return (io) => [argmaxSample(device, shape, io, {})];
  return (io) => sampleTopK(device, shape, io, m);
}

function makerName(m: Maker, wgArgmax?: number): string {
  if (m === "argmax") return `argmax wg=${wgArgmax ?? "default"}`;
  return `topk kMax=${m.kMax}${m.wg ? ` wg=${m.wg}` : ""}${m.wgFinal ? ` wgFinal=${m.wgFinal}` : ""}${m.cap ? ` cap=${m.cap}` : ""}`;
}

function samplerCase(
  name: string,
  envOf: () => Env,
  m: Maker,
  opts: { smoke?: boolean; wgArgmax?: number } = {},
): KernelCase {
  return {
    name: `${makerName(m, opts.wgArgmax)}: ${name}`,
    smoke: opts.smoke,
    async run(device) {
      const env = envOf();
      const make =
        m === "argmax" && opts.wgArgmax
          ? (io: SamplerIO) => [
              argmaxSample(device, { vocab: env.vocab, ring: env.ring }, io, { wg: opts.wgArgmax }),
            ]
          : maker(device, env, m);
      const run = await runSampler(device, env, make);
      return summary(checkRun(env, m === "argmax" ? 1 : m.kMax, run));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** Logits like a model's: normal with std `scale`, seeded. */
function logitsOf(vocab: number, seed: number, scale = 3): Float32Array {
  return randomNormalF32(vocab, seed, scale);
}

/** Counts from a seeded history: prompt tokens biased to the current best tokens. */
function countsOf(logits: Float32Array, seed: number): Uint32Array {
  const r = rng(seed);
  const vocab = logits.length;
  const order = Array.from(logits.keys())
    .sort((a, b) => logits[b]! - logits[a]!)
    .slice(0, 40);
  const prompt: number[] = [];
  const gen: number[] = [];
  for (let i = 0; i < 300; i++)
    prompt.push(r() < 0.5 ? order[Math.floor(r() * 40)]! : Math.floor(r() * vocab));
  for (let i = 0; i < 60; i++) gen.push(r() < 0.5 ? order[Math.floor(r() * 20)]! : Math.floor(r() * vocab));
  const c = penaltyCountsRef(vocab, prompt, prompt.length, "prompt");
  return penaltyCountsRef(vocab, gen, gen.length, "generated", c);
}

const PEN = { repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.6 };

function env(
  vocab: number,
  seed: number,
  params: SamplingParams,
  o: { steps?: number; ring?: number; penalties?: boolean; logits?: Float32Array; startStep?: number } = {},
): () => Env {
  return () => {
    const logits = o.logits ?? logitsOf(vocab, seed);
    const counts = o.penalties ? countsOf(logits, seed + 1) : new Uint32Array(vocab);
    const p = o.penalties ? { ...params, ...PEN } : params;
    return {
      vocab,
      logits,
      counts,
      params: p,
      startStep: o.startStep ?? seed * 1000,
      steps: o.steps ?? 3,
      ring: o.ring ?? o.steps ?? 3,
    };
  };
}

/** Equal maxima at several ids: the smallest must win. */
function tiedLogits(vocab: number, seed: number, at: number[]): Float32Array {
  const x = logitsOf(vocab, seed);
  for (const i of at) x[i] = 50;
  return x;
}

/** The best 2 * n tokens all in one stage-1 chunk (forces extra merge rounds), some -inf logits. */
function clusteredLogits(vocab: number, seed: number, start: number, n: number): Float32Array {
  const x = logitsOf(vocab, seed, 1);
  const r = rng(seed + 5);
  for (let i = 0; i < 2 * n; i++) x[start + i] = 8 + 4 * r();
  for (let i = 0; i < vocab; i += 7) if (i < start || i >= start + 2 * n) x[i] = -Infinity;
  return x;
}

// ---------------------------------------------------------------------------------------------
// Penalty counts kernel

function penaltyCountsCase(vocab: number, maxHistory: number, len: number, smoke = false): KernelCase {
  return {
    name: `penalty counts V=${vocab} history=${len}/${maxHistory}`,
    smoke,
    async run(device) {
      const r = rng(vocab + len);
      const prompt = new Uint32Array(maxHistory);
      const gen = new Uint32Array(maxHistory);
      // Repeats, and ids >= V (ignored) in the slots past `len` and a few inside.
      for (let i = 0; i < maxHistory; i++) {
        prompt[i] = r() < 0.3 ? Math.floor(r() * 16) : Math.floor(r() * (vocab + 50));
        gen[i] = r() < 0.3 ? Math.floor(r() * 16) : Math.floor(r() * (vocab + 50));
      }
      const init = new Uint32Array(vocab).fill(POISON);
      const counts = guardedInit(device, init);
      const lenBuf = uploadBuffer(device, new Uint32Array([len]));
      const shape = { vocab, maxHistory };
      runDispatches(device, [
        ...penaltyCounts(
          device,
          shape,
          { history: uploadBuffer(device, prompt), historyLen: lenBuf, counts: counts.buffer },
          { mode: "prompt", clear: true },
        ),
        ...penaltyCounts(
          device,
          shape,
          { history: uploadBuffer(device, gen), historyLen: lenBuf, counts: counts.buffer },
          { mode: "generated", clear: false },
          { wg: 64 },
        ),
      ]);
      const got = await readGuarded(device, counts);
      const want = penaltyCountsRef(
        vocab,
        gen,
        len,
        "generated",
        penaltyCountsRef(vocab, prompt, len, "prompt"),
      );
      let nonzero = 0;
      for (let i = 0; i < vocab; i++) {
        if (got[i] !== want[i]) throw new Error(`counts[${i}] = ${got[i]}, want ${want[i]}`);
        if (want[i]) nonzero++;
      }
      return `exact (${nonzero} tokens counted)`;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Statistical test

/**
 * 2000 queued steps on V = 512 with a known kept distribution: every unambiguous step matches the
 * reference token, and the token frequencies pass a chi-square test against the reference
 * probabilities at significance 1e-3 (critical values below; the test is seeded, so deterministic).
 */
function statisticalCase(variant: { kMax: number; wg?: number; wgFinal?: number; cap?: number }): KernelCase {
  const kMax = variant.kMax;
  // Chi-square critical values at p = 0.001 for df = 1 .. 30.
  const CRIT = [
    10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.7,
    39.25, 40.79, 42.31, 43.82, 45.31, 46.8, 48.27, 49.73, 51.18, 52.62, 54.05, 55.48, 56.89, 58.3, 59.7,
  ];
  const steps = 2000;
  return {
    name: `${makerName(variant)}: ${steps} queued steps, chi-square of token frequencies (V=512)`,
    async run(device) {
      const vocab = 512;
      const logits = logitsOf(vocab, 99, 1.5);
      const e: Env = {
        vocab,
        logits,
        counts: new Uint32Array(vocab),
        params: { temperature: 1.1, topK: 30, topP: 0.9, minP: 0.02, seed: 0x1234_5678_9abcn },
        startStep: 0,
        steps,
        ring: steps,
      };
      const run = await runSampler(device, e, maker(device, e, variant));
      const checked = checkRun(e, kMax, run);
      const p = resolveSamplingParams(e.params);
      const ref = sampleRef(penalizeRef(logits, e.counts, p), p, 0, kMax);
      const freq = new Map<number, number>();
      for (const t of run.tokens) freq.set(t, (freq.get(t) ?? 0) + 1);
      // Pool kept tokens with expected count < 5 into one bin (the usual chi-square validity rule).
      let chi2 = 0;
      let bins = 0;
      let poolE = 0;
      let poolO = 0;
      ref.kept.forEach((t, j) => {
        const exp = ref.probs[j]! * steps;
        const obs = freq.get(t) ?? 0;
        if (exp < 5) {
          poolE += exp;
          poolO += obs;
        } else {
          chi2 += (obs - exp) ** 2 / exp;
          bins++;
        }
      });
      if (poolE > 0) {
        chi2 += (poolO - poolE) ** 2 / poolE;
        bins++;
      }
      for (const t of freq.keys())
        if (!ref.kept.includes(t)) throw new Error(`token ${t} is outside the kept set`);
      const df = bins - 1;
      if (df < 5 || df > CRIT.length) throw new Error(`unexpected df ${df}`);
      const crit = CRIT[df - 1]!;
      if (!(chi2 < crit)) throw new Error(`chi-square ${chi2.toFixed(2)} >= ${crit} (df ${df})`);
      return `${summary(checked)}; chi2 ${chi2.toFixed(2)} < ${crit} (df ${df}, ${ref.kept.length} kept)`;
    },
  };
}

// ---------------------------------------------------------------------------------------------

const GREEDY: SamplingParams = { temperature: 0 };
const S1: SamplingParams = { temperature: 0.8, topK: 40, topP: 0.9, minP: 0.05, seed: 42 };
const S2: SamplingParams = { temperature: 1, topK: 0, topP: 0.95, seed: 7 };
const S3: SamplingParams = { temperature: 0.7, seed: 2n ** 63n + 5n };
const S4: SamplingParams = { temperature: 1.3, topK: 0, topP: 0.98, minP: 0.01, seed: 99 };

// Variants (each compiles its own pipelines, seconds apiece on SwiftShader, so cases share them).
const K64 = { kMax: 64 };
const K256 = { kMax: 256 };
// Small workgroups and a small merge buffer: 125 chunks at V = 32000 leave 2 heads per list, so the
// merge takes overflow rounds on ordinary logits.
const SMALL = { kMax: 64, wg: 64, wgFinal: 64, cap: 256 };

export const samplingCases: KernelCase[] = [
  philoxCase(),
  penaltyCountsCase(512, 64, 50, true),
  penaltyCountsCase(32000, 4096, 3000),

  // Greedy, one dispatch.
  samplerCase("V=512 greedy", env(512, 1, GREEDY), "argmax", { smoke: true }),
  samplerCase("V=32000 greedy", env(32000, 2, GREEDY), "argmax", { wgArgmax: 64 }),
  samplerCase("V=128256 greedy", env(128256, 3, GREEDY), "argmax"),
  samplerCase(
    "V=151936 greedy, -inf logits",
    env(151936, 4, GREEDY, { logits: clusteredLogits(151936, 4, 150000, 8) }),
    "argmax",
  ),
  samplerCase(
    "V=1001 greedy, max in the tail",
    env(1001, 5, GREEDY, { logits: tiedLogits(1001, 5, [1000]) }),
    "argmax",
  ),
  samplerCase(
    "V=32000 ties -> smallest id",
    env(32000, 6, GREEDY, { logits: tiedLogits(32000, 6, [31000, 17, 5000]) }),
    "argmax",
  ),
  samplerCase(
    "V=32000 greedy + penalties, 6 steps",
    env(32000, 7, GREEDY, { penalties: true, steps: 6 }),
    "argmax",
  ),

  // Greedy, two dispatches.
  samplerCase("V=512 greedy", env(512, 11, GREEDY), { kMax: 1 }, { smoke: true }),
  samplerCase("V=151936 greedy", env(151936, 12, GREEDY, { steps: 1 }), { kMax: 1 }),
  samplerCase(
    "V=32000 temperature 0 ties",
    env(32000, 13, GREEDY, { steps: 1, logits: tiedLogits(32000, 13, [900, 31999, 901]) }),
    K64,
  ),
  samplerCase("V=32000 greedy + penalties, 3 steps", env(32000, 14, GREEDY, { penalties: true }), K64),

  // Stochastic.
  samplerCase("V=512 T=0.8 k=40 p=0.9 min_p=0.05", env(512, 21, S1), SMALL, { smoke: true }),
  samplerCase("V=32000 T=1 k=all p=0.95, 4 steps ring 3", env(32000, 22, S2, { steps: 4, ring: 3 }), K64),
  samplerCase("V=32000 T=0.7 k=all (= the best kMax), 64-bit seed", env(32000, 23, S3, { steps: 2 }), K256),
  samplerCase(
    "V=151936 T=0.8 k=40 p=0.9 min_p=0.05 + penalties",
    env(151936, 24, S1, { penalties: true, steps: 1 }),
    K64,
  ),
  samplerCase("V=32000 T=1.3 k=all p=0.98 min_p=0.01 (125 chunks)", env(32000, 25, S4, { steps: 2 }), SMALL),
  samplerCase(
    "V=32000 winners in one chunk (merge rounds), -inf logits",
    env(32000, 27, S3, { steps: 1, logits: clusteredLogits(32000, 27, 5000, 256) }),
    K256,
  ),
  samplerCase(
    "V=1001 winners in the partial last chunk, -inf logits",
    env(1001, 28, S2, { logits: clusteredLogits(1001, 28, 1001 - 128, 64) }),
    K64,
  ),
  samplerCase(
    "V=2048 all logits equal",
    env(2048, 29, S2, { logits: new Float32Array(2048).fill(0.5) }),
    K64,
  ),
  samplerCase("V=4096 top_k=1 == greedy", env(4096, 30, { temperature: 1, topK: 1, seed: 3 }), K64),
  statisticalCase(SMALL),
];
