// Shared by the sampling kernels (a library snippet: sampling.ts prepends it). Defines the
// per-request parameter block, the total order on candidates and the penalty arithmetic; the CPU
// reference (sampling.ref.ts) mirrors every rounding step here.

// Written by the host once per request (packSamplingParams); the layout is 16 scalar words.
struct SamplingParams {
  temperature: f32,     // 0 = greedy
  inv_temperature: f32, // f32(1 / temperature), 1 when greedy: z = x * inv_temperature
  top_k: u32,           // 0 = all (capped at K_MAX)
  top_p: f32,           // >= 1 = off
  min_p: f32,           // 0 = off
  rep: f32,             // repetition penalty p (1 = off)
  inv_rep: f32,         // f32(1 / p): HF's logit / p is done as logit * inv_rep (exact to reproduce)
  freq: f32,            // frequency penalty
  presence: f32,        // presence penalty
  seed_lo: u32,         // Philox key
  seed_hi: u32,
  penalize: u32,        // 1 when any penalty is active (else counts are never read)
  zero: u32,            // always 0: see nofuse
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

// A finite "minus infinity" for the max / sum-exp merges. Not -FLT_MAX: drivers may evaluate
// exp(z - m) as exp2(z * log2(e) - m * log2(e)), and with m = -FLT_MAX the second product overflows,
// so a -inf logit gives -inf + inf = NaN (seen on NVIDIA). Logits must be > -1e30 or -inf.
const NEG_BIG: f32 = -1e30f;
const PAD_IDX: u32 = 0xffffffffu;      // a padding candidate: key 0, index PAD_IDX, loses to all

// Order-preserving map f32 -> u32: a > b as floats (with -0 < +0) iff key(a) > key(b).
fn f32_key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn key_f32(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// The total order of candidates: larger logit first, ties to the smaller token id.
fn beats(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

// An opaque identity (zero is 0 at run time): keeps the driver from contracting a multiply and the
// following add into one fma, whose single rounding would differ from the reference's two.
fn nofuse(v: f32, zero: u32) -> f32 {
  return bitcast<f32>(bitcast<u32>(v) | zero);
}

// counts word: bit 31 = token seen in the prompt, bits 0..30 = times generated.
// Repetition (HF): every seen token, x > 0 -> x / p else x * p. Then frequency/presence (OpenAI,
// generated tokens only): x -= n * freq + (n > 0) * presence.
fn penalize(x0: f32, cnt: u32, sp: SamplingParams) -> f32 {
  if (cnt == 0u) {
    return x0;
  }
  let n = cnt & 0x7fffffffu;
  let x = nofuse(select(x0 * sp.rep, x0 * sp.inv_rep, x0 > 0.0), sp.zero);
  let pen = nofuse(f32(n) * sp.freq, sp.zero) + select(0.0, sp.presence, n > 0u);
  return x - pen;
}
