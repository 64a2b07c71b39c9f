// Greedy decoding in ONE dispatch: one workgroup streams the whole vocabulary with vec4 loads,
// keeping per thread the best (logit, index) and an online log-sum-exp, then reduces in workgroup
// memory. Ties go to the smallest token id. Writes the token and its log-probability into the
// ring slot state.step % ring, then advances the step (so queued decode steps need no CPU).
// Prepended: common.wgsl.
//
// logits: (V) f32 read as ceil(V/4) vec4 (the binding must cover them: pad to 16 bytes)
// counts: (V) u32 penalty counts (common.wgsl), read as vec4 only when params.penalize != 0
// state:  [step, last token, ...] u32; tokenOut: (ring) u32; logprobOut: (ring) f32

override WG: u32 = 256u; // power of two
const UNROLL: u32 = 4u;

struct Shape {
  vocab: u32,
  ring: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> sp: SamplingParams;
@group(0) @binding(2) var<storage, read> logits: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> counts: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> state: array<u32>;
@group(0) @binding(5) var<storage, read_write> token_out: array<u32>;
@group(0) @binding(6) var<storage, read_write> logprob_out: array<f32>;

var<workgroup> r_key: array<u32, WG>;
var<workgroup> r_idx: array<u32, WG>;
var<workgroup> r_m: array<f32, WG>;
var<workgroup> r_s: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let vocab = shape.vocab;
  let nvec = (vocab + 3u) / 4u;
  let pen = sp.penalize != 0u;
  let inv_t = sp.inv_temperature;
  var bk = 0u;
  var bi = PAD_IDX;
  var m = NEG_BIG; // running max of z = x * inv_t
  var s = 0.0;     // sum of exp(z - m)
  // UNROLL vec4 loads in flight per thread: one workgroup alone must cover the memory latency.
  for (var v0 = lid; v0 < nvec; v0 += WG * UNROLL) {
    var xs: array<vec4<f32>, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let v = v0 + u * WG;
      if (v < nvec) {
        xs[u] = logits[v];
      }
    }
    if (pen) {
      for (var u = 0u; u < UNROLL; u++) {
        let v = v0 + u * WG;
        if (v < nvec) {
          let c4 = counts[v];
          let x4 = xs[u];
          xs[u] = vec4<f32>(penalize(x4.x, c4.x, sp), penalize(x4.y, c4.y, sp),
                            penalize(x4.z, c4.z, sp), penalize(x4.w, c4.w, sp));
        }
      }
    }
    for (var u = 0u; u < UNROLL; u++) {
      for (var c = 0u; c < 4u; c++) {
        let i = (v0 + u * WG) * 4u + c;
        if (i < vocab) {
          let x = xs[u][c];
          let k = f32_key(x);
          // Indices only grow along a thread's loop, so strict > keeps the smallest on ties.
          if (k > bk || bi == PAD_IDX) {
            bk = k;
            bi = i;
          }
          let z = x * inv_t;
          if (z > m) {
            s = s * exp(m - z) + 1.0;
            m = z;
          } else {
            s += exp(z - m);
          }
        }
      }
    }
  }
  r_key[lid] = bk;
  r_idx[lid] = bi;
  r_m[lid] = m;
  r_s[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let ok = r_key[lid + h];
      let oi = r_idx[lid + h];
      if (beats(ok, oi, r_key[lid], r_idx[lid])) {
        r_key[lid] = ok;
        r_idx[lid] = oi;
      }
      let om = r_m[lid + h];
      let mm = max(r_m[lid], om);
      r_s[lid] = r_s[lid] * exp(r_m[lid] - mm) + r_s[lid + h] * exp(om - mm);
      r_m[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let tok = r_idx[0];
    let lse = r_m[0] + log(r_s[0]);
    let step = state[0];
    let slot = step % shape.ring;
    token_out[slot] = tok;
    logprob_out[slot] = key_f32(r_key[0]) * inv_t - lse;
    state[1] = tok;
    state[0] = step + 1u;
    if (pen) {
      counts[tok / 4u][tok % 4u] += 1u;
    }
  }
}
