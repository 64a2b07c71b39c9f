// GPU sampling: the token loop never waits for the CPU. Per decode step the host only encodes:
//   greedy:      sampleTopK kMax=1       2 dispatches (P chunk workgroups, then one merge workgroup)
//                or argmaxSample          1 dispatch (one workgroup streams V with vec4 loads: a single
//                                        SM is compute-bound on one exp per token, so on the H100 it
//                                        only wins for small V; measured 8.2 us at V = 32000 and
//                                        22.8 us at V = 151936 with wg 1024, against 9.5 us for kMax=1)
//   stochastic:  sampleTopK              2 dispatches (temperature 0 in the params takes the greedy
//                                        path inside them, so one dispatch list serves both)
// Penalties are fused into the first dispatch (a V-word counts read, only when active); the
// samplers count the token they emit, so per step the penalties cost no dispatch. penaltyCounts
// builds the counts from the prompt once per request (2 dispatches: clear + scatter).
// The step lives in a GPU state buffer [step, last token, 0, 0] that the kernel advances: token
// and log-probability go to ring slot step % ring, and Philox(seed, step) gives the draw, so
// several steps can be queued with no CPU round trip; the host resets the state per request.
import {
  type Binding,
  ceilDiv,
  type Dispatch,
  grid1d,
  type KernelSource,
  makeDispatch,
  uniform,
} from "../kernel.ts";
import argmaxCode from "./argmax.wgsl?raw";
import bitonicCode from "./bitonic.wgsl?raw";
import commonCode from "./common.wgsl?raw";
import penaltyCountsCode from "./penalty_counts.wgsl?raw";
import philoxCode from "./philox.wgsl?raw";
import finalCode from "./sample_final.wgsl?raw";
import partialCode from "./sample_partial.wgsl?raw";

export const argmaxSampleSource: KernelSource = {
  name: "sampling_argmax",
  code: `${commonCode}\n${argmaxCode}`,
  // shape, params, logits, counts, state, tokenOut, logprobOut
  bindings: ["uniform", "read-only-storage", "read-only-storage", "storage", "storage", "storage", "storage"],
};

export const samplePartialSource: KernelSource = {
  name: "sample_partial",
  code: `${commonCode}\n${bitonicCode}\n${partialCode}`,
  // shape, params, logits, counts, cand, stats
  bindings: ["uniform", "read-only-storage", "read-only-storage", "read-only-storage", "storage", "storage"],
};

export const sampleFinalSource: KernelSource = {
  name: "sample_final",
  code: `${commonCode}\n${philoxCode}\n${bitonicCode}\n${finalCode}`,
  // shape, params, cand, stats, counts, state, tokenOut, logprobOut
  bindings: [
    "uniform",
    "read-only-storage",
    "read-only-storage",
    "read-only-storage",
    "storage",
    "storage",
    "storage",
    "storage",
  ],
};

export const penaltyCountsClearSource: KernelSource = {
  name: "penalty_counts",
  code: penaltyCountsCode,
  entryPoint: "clear",
  bindings: ["uniform", "read-only-storage", "read-only-storage", "storage"],
};

export const penaltyCountsSource: KernelSource = { ...penaltyCountsClearSource, entryPoint: "main" };

/** Philox4x32-10 in WGSL (philox_mulhilo, philox4x32_10, philox_u01), for kernels that draw. */
export const philoxWgsl: string = philoxCode;

// ---------------------------------------------------------------------------------------------
// Parameters (per request)

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = all, capped at the sampler's kMax (as is any larger value). */
  topK?: number;
  /** In (0, 1]; 1 = off. */
  topP?: number;
  /** In [0, 1]; 0 = off. Keeps tokens with p >= minP * p_max. */
  minP?: number;
  /** HF repetition penalty (> 0; 1 = off) on every token seen in the prompt or generated. */
  repetitionPenalty?: number;
  /** OpenAI frequency penalty on generated tokens: logit -= count * frequencyPenalty. */
  frequencyPenalty?: number;
  /** OpenAI presence penalty on generated tokens: logit -= presencePenalty if count > 0. */
  presencePenalty?: number;
  /** Philox key; an integer in [0, 2^53) or a bigint in [0, 2^64). */
  seed?: number | bigint;
}

/** The f32 values the kernels see (the CPU reference uses these, so both round alike). */
export interface ResolvedSamplingParams {
  temperature: number;
  invTemperature: number;
  topK: number;
  topP: number;
  minP: number;
  rep: number;
  invRep: number;
  freq: number;
  presence: number;
  seedLo: number;
  seedHi: number;
  penalize: boolean;
}

export const SAMPLING_PARAMS_BYTES = 64;

export function resolveSamplingParams(p: SamplingParams): ResolvedSamplingParams {
  const f = Math.fround;
  const temperature = f(p.temperature);
  const topK = p.topK ?? 0;
  const topP = f(p.topP ?? 1);
  const minP = f(p.minP ?? 0);
  const rep = f(p.repetitionPenalty ?? 1);
  const freq = f(p.frequencyPenalty ?? 0);
  const presence = f(p.presencePenalty ?? 0);
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new Error(`bad temperature ${p.temperature}`);
  if (!Number.isInteger(topK) || topK < 0 || topK > 0xffffffff) throw new Error(`bad topK ${p.topK}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${p.topP}`);
  if (!(minP >= 0 && minP <= 1)) throw new Error(`minP must be in [0, 1], got ${p.minP}`);
  if (!(rep > 0) || !Number.isFinite(rep)) throw new Error(`bad repetitionPenalty ${p.repetitionPenalty}`);
  if (!Number.isFinite(freq) || !Number.isFinite(presence)) throw new Error("bad frequency/presence penalty");
  const seed = BigInt(p.seed ?? 0);
  if (seed < 0n || seed >= 1n << 64n) throw new Error(`seed out of range: ${p.seed}`);
  return {
    temperature,
    invTemperature: temperature > 0 ? f(1 / temperature) : 1,
    topK,
    topP,
    minP,
    rep,
    invRep: f(1 / rep),
    freq,
    presence,
    seedLo: Number(seed & 0xffffffffn),
    seedHi: Number(seed >> 32n),
    penalize: rep !== 1 || freq !== 0 || presence !== 0,
  };
}

/** The params block of common.wgsl (SamplingParams), 16 words. */
export function packSamplingParams(p: SamplingParams): ArrayBuffer {
  const r = resolveSamplingParams(p);
  const buf = new ArrayBuffer(SAMPLING_PARAMS_BYTES);
  const v = new DataView(buf);
  const words: [number, "f" | "u"][] = [
    [r.temperature, "f"],
    [r.invTemperature, "f"],
    [r.topK, "u"],
    [r.topP, "f"],
    [r.minP, "f"],
    [r.rep, "f"],
    [r.invRep, "f"],
    [r.freq, "f"],
    [r.presence, "f"],
    [r.seedLo, "u"],
    [r.seedHi, "u"],
    [r.penalize ? 1 : 0, "u"],
    [0, "u"], // zero: must stay 0 (common.wgsl nofuse)
  ];
  words.forEach(([x, t], i) => {
    if (t === "f") v.setFloat32(i * 4, x, true);
    else v.setUint32(i * 4, x, true);
  });
  return buf;
}

/** A params buffer (read-only storage for the samplers), written once per request. */
export function samplingParamsBuffer(device: GPUDevice, p: SamplingParams): GPUBuffer {
  const buffer = device.createBuffer({
    label: "sampling.params",
    size: SAMPLING_PARAMS_BYTES,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  writeSamplingParams(device, buffer, p);
  return buffer;
}

export function writeSamplingParams(device: GPUDevice, buffer: GPUBuffer, p: SamplingParams): void {
  device.queue.writeBuffer(buffer, 0, packSamplingParams(p));
}

/** State words [step, last token, 0, 0]; reset per request with writeSamplingState. */
export function samplingStateBuffer(device: GPUDevice, step = 0): GPUBuffer {
  const buffer = device.createBuffer({
    label: "sampling.state",
    size: 16,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  writeSamplingState(device, buffer, step);
  return buffer;
}

export function writeSamplingState(device: GPUDevice, buffer: GPUBuffer, step = 0): void {
  device.queue.writeBuffer(buffer, 0, new Uint32Array([step >>> 0, 0, 0, 0]));
}

// ---------------------------------------------------------------------------------------------
// Samplers

export interface SamplerShape {
  /** V; logits and counts bindings must cover ceil(V / 4) * 16 bytes (vec4 loads). */
  vocab: number;
  /** Ring slots of tokenOut / logprobOut: step s writes slot s % ring. */
  ring: number;
}

export interface SamplerIO {
  /** (V) f32, this step's logits (not modified). */
  logits: Binding;
  /** (V) u32 penalty counts (penaltyCounts); read only when penalties are on, then += 1 per token. */
  counts: Binding;
  /** SAMPLING_PARAMS_BYTES, packSamplingParams. */
  params: Binding;
  /** [step, last token, 0, 0] u32, advanced by the sampler. */
  state: Binding;
  /** (ring) u32 token ids. */
  tokenOut: Binding;
  /** (ring) f32 log-softmax of the processed logits (penalties, then / temperature; greedy: / 1). */
  logprobOut: Binding;
}

function bindingBytes(b: Binding): number | undefined {
  if ("buffer" in b) return b.size ?? b.buffer.size - (b.offset ?? 0);
  return b.size;
}

function checkShape(shape: SamplerShape, io: SamplerIO): void {
  const { vocab, ring } = shape;
  if (!Number.isInteger(vocab) || vocab < 1) throw new Error(`bad vocab ${vocab}`);
  if (!Number.isInteger(ring) || ring < 1) throw new Error(`bad ring ${ring}`);
  const need = ceilDiv(vocab, 4) * 16;
  for (const [name, b] of [
    ["logits", io.logits],
    ["counts", io.counts],
  ] as const) {
    const have = bindingBytes(b);
    if (have !== undefined && have < need) {
      throw new Error(
        `${name} binding has ${have} bytes; vec4 loads need ${need} (pad V to a multiple of 4)`,
      );
    }
  }
}

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

function checkWorkgroup(device: GPUDevice, what: string, wg: number, sharedBytes: number): void {
  if (!isPow2(wg) || wg > device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`${what}: workgroup size ${wg} must be a power of two <= the device limit`);
  }
  if (sharedBytes > device.limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`${what}: ${sharedBytes} bytes of workgroup memory exceed the device limit`);
  }
}

/**
 * Greedy decoding in one dispatch (one workgroup). Ties go to the smallest token id. Writes token and
 * log-probability to slot state.step % ring, sets state = [step + 1, token], counts the token when
 * penalties are on. Variant: wg (power of two, default the device limit up to 1024: a lone
 * workgroup wants every thread it can get).
 */
export function argmaxSample(
  device: GPUDevice,
  shape: SamplerShape,
  io: SamplerIO,
  variant: { wg?: number } = {},
): Dispatch {
  checkShape(shape, io);
  const wg = variant.wg ?? Math.min(1024, device.limits.maxComputeInvocationsPerWorkgroup);
  checkWorkgroup(device, "argmaxSample", wg, wg * 16);
  const u = uniform(device, "sampling_argmax.shape", [shape.vocab, shape.ring]);
  return makeDispatch(
    device,
    argmaxSampleSource,
    { WG: wg },
    [u, io.params, io.logits, io.counts, io.state, io.tokenOut, io.logprobOut],
    [1, 1, 1],
  );
}

export interface SampleTopKVariant {
  /** Stage 1 workgroup size (power of two); each workgroup takes a chunk of 4 * wg tokens. */
  wg?: number;
  /** Candidates kept (power of two <= 4 * wg, <= wgFinal, 2 * kMax <= cap); 1 = greedy only. */
  kMax?: number;
  /** Stage 2 workgroup size (power of two >= kMax). */
  wgFinal?: number;
  /** Stage 2 merge buffer entries (power of two >= 2 * kMax, >= 2 * wgFinal, >= 2 * the chunk count). */
  cap?: number;
}

/**
 * Top-k / top-p / min-p / temperature sampling in two dispatches (greedy when the params' temperature
 * is 0 or kMax = 1). The algorithm, which sampleRef reproduces:
 *   x = penalized logits; candidates = the best kMax tokens by (x descending, id ascending);
 *   k = topK (0 or > kMax: kMax); z_j = x_j * f32(1 / T); e_j = exp(z_j - z_0), C_j = e_0 + .. + e_j;
 *   n = min(k, #{j < k : e_j >= minP}, topP < 1 ? 1 + #{j < k : C_j < topP * C_{k-1}} : k);
 *   u = Philox4x32-10(counter (step, 0, 0, 0), key (seedLo, seedHi)).x >> 8, / 2^24;
 *   token = candidate min(#{j < n : C_j <= u * C_{n-1}}, n - 1).
 * topK = 0 ("all") therefore means the nucleus among the best kMax tokens (the cap).
 */
export function sampleTopK(
  device: GPUDevice,
  shape: SamplerShape,
  io: SamplerIO,
  variant: SampleTopKVariant = {},
): Dispatch[] {
  checkShape(shape, io);
  const wg = variant.wg ?? 256;
  const kMax = variant.kMax ?? 64;
  const wgFinal = variant.wgFinal ?? Math.max(256, kMax);
  const cap = variant.cap ?? Math.max(1024, 2 * kMax, 2 * wgFinal);
  const chunk = 4 * wg;
  const chunks = ceilDiv(shape.vocab, chunk);
  if (
    !isPow2(kMax) ||
    kMax > chunk ||
    kMax > wgFinal ||
    2 * kMax > cap ||
    !isPow2(cap) ||
    cap < 2 * wgFinal
  ) {
    throw new Error(`sampleTopK: bad kMax ${kMax} (wg ${wg}, wgFinal ${wgFinal}, cap ${cap})`);
  }
  if (shape.vocab < kMax) throw new Error(`sampleTopK: vocab ${shape.vocab} < kMax ${kMax}`);
  if (2 * chunks > cap)
    throw new Error(`sampleTopK: ${chunks} chunks exceed cap / 2 = ${cap / 2}; raise wg or cap`);
  checkWorkgroup(device, "sampleTopK stage 1", wg, chunk * 8 + wg * 8);
  checkWorkgroup(device, "sampleTopK stage 2", wgFinal, cap * 10 + wgFinal * 8 + 32);
  // Round 1 of the merge sorts the first `heads` (even) entries of every list (sample_final.wgsl).
  const heads = Math.min(kMax, 2 * Math.floor(cap / chunks / 2));
  const n1 = Math.max(4, 2 ** Math.ceil(Math.log2(chunks * heads)));
  const list = Math.max(kMax, 2) / 2; // vec4 (2 entries) per list

  const storage = GPUBufferUsage.STORAGE;
  const cand = device.createBuffer({ label: "sample.cand", size: chunks * list * 16, usage: storage });
  const stats = device.createBuffer({
    label: "sample.stats",
    size: Math.max(16, chunks * 8),
    usage: storage,
  });
  const u1 = uniform(device, "sample_partial.shape", [shape.vocab, chunks]);
  const u2 = uniform(device, "sample_final.shape", [shape.vocab, chunks, shape.ring, heads, n1]);
  return [
    makeDispatch(
      device,
      samplePartialSource,
      { WG: wg, K_MAX: kMax },
      [u1, io.params, io.logits, io.counts, cand, stats],
      grid1d(device, chunks),
    ),
    makeDispatch(
      device,
      sampleFinalSource,
      { WG: wgFinal, K_MAX: kMax, CAP: cap },
      [u2, io.params, cand, stats, io.counts, io.state, io.tokenOut, io.logprobOut],
      [1, 1, 1],
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Penalty counts

export interface PenaltyCountsShape {
  vocab: number;
  /** History buffer capacity (static); the live length is historyLen[0] (storage). */
  maxHistory: number;
}

/**
 * counts[id] (V u32) from history[0 .. historyLen[0]): "prompt" sets bit 31 (repetition penalty
 * only), "generated" adds 1 (all penalties). clear: zero the counts first (2 dispatches, else 1).
 */
export function penaltyCounts(
  device: GPUDevice,
  shape: PenaltyCountsShape,
  io: { history: Binding; historyLen: Binding; counts: Binding },
  opts: { mode: "prompt" | "generated"; clear: boolean },
  variant: { wg?: number } = {},
): Dispatch[] {
  const wg = variant.wg ?? 256;
  const u = uniform(device, "penalty_counts.shape", [
    shape.vocab,
    shape.maxHistory,
    opts.mode === "prompt" ? 1 : 0,
  ]);
  const bufs = [u, io.history, io.historyLen, io.counts];
  const out: Dispatch[] = [];
  if (opts.clear) {
    out.push(
      makeDispatch(
        device,
        penaltyCountsClearSource,
        { WG: wg },
        bufs,
        grid1d(device, ceilDiv(shape.vocab, wg)),
      ),
    );
  }
  out.push(
    makeDispatch(
      device,
      penaltyCountsSource,
      { WG: wg },
      bufs,
      grid1d(device, Math.max(1, ceilDiv(shape.maxHistory, wg))),
    ),
  );
  return out;
}
