// Sampling stage 2 of 2: ONE workgroup merges the P chunk lists of sample_partial.wgsl into the
// global top K_MAX, applies top-k / min-p / top-p, draws with Philox(seed, step), writes the token
// and its log-probability to the ring slot state.step % ring, advances the step and, when penalties
// are on, counts the token as generated. Prepended: common.wgsl, philox.wgsl, bitonic.wgsl.
//
// Exact merge without sorting all P * K_MAX candidates: round 1 sorts the first `heads` entries of
// every list (P * heads <= CAP); T = the best K_MAX of the buffer, tau = T's last. A list whose last
// taken entry strictly beats tau may hold more members of the global top K_MAX, so the next round
// takes min(taken, K_MAX - taken) more of each such list (they all sit in T, strictly above tau, so
// at most K_MAX - 1 entries are added) and sorts T + additions (2 * K_MAX entries). When no list
// overflows, every entry not taken is worse than tau and T is the global top K_MAX. Typical logits
// finish in round 1; the worst case (all winners in one list) needs log2(K_MAX / heads) more rounds.
//
// cand:  (P, LIST) vec4<u32> (sample_partial.wgsl): list g, entries 2i and 2i + 1 in cand[g * LIST + i]
// stats: (P) vec2<f32> (max z, sum exp(z - max z)); counts: (V) u32 (common.wgsl)
// state: [step, last token, ...] u32; token_out: (ring) u32; logprob_out: (ring) f32

override WG: u32 = 256u;   // power of two, >= K_MAX
override K_MAX: u32 = 64u; // power of two
override CAP: u32 = 1024u; // power of two, >= 2 * K_MAX, >= 2 * P, >= 2 * WG
override LIST: u32 = max(K_MAX, 2u) / 2u;

struct Shape {
  vocab: u32,
  chunks: u32, // P
  ring: u32,
  heads: u32,  // entries of each list taken in round 1: even, min(K_MAX, CAP / P)
  n1: u32,     // round 1 sort size: next power of two >= max(4, P * heads)
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> sp: SamplingParams;
@group(0) @binding(2) var<storage, read> cand: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> counts: array<u32>;
@group(0) @binding(5) var<storage, read_write> state: array<u32>;
@group(0) @binding(6) var<storage, read_write> token_out: array<u32>;
@group(0) @binding(7) var<storage, read_write> logprob_out: array<f32>;

var<workgroup> sort_buf: array<vec4<u32>, CAP / 2u>; // 2 entries (key, token id) per vec4
var<workgroup> taken: array<u32, CAP / 2u>;         // per list: entries taken so far (even)
var<workgroup> r_m: array<f32, WG>;
var<workgroup> r_s: array<f32, WG>;                 // also the inclusive scan of the weights
var<workgroup> w_count: array<atomic<u32>, 4>;
var<workgroup> w_fill: u32;
var<workgroup> w_target: f32;
var<workgroup> w_n: u32;

fn finish(tok: u32, lp: f32) {
  let step = state[0];
  let slot = step % shape.ring;
  token_out[slot] = tok;
  logprob_out[slot] = lp;
  state[1] = tok;
  state[0] = step + 1u;
  if (sp.penalize != 0u) {
    counts[tok] += 1u;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let chunks = shape.chunks;
  let inv_t = sp.inv_temperature;

  // Log-sum-exp over the vocabulary from the chunk partials.
  var m = NEG_BIG;
  var s = 0.0;
  for (var g = lid; g < chunks; g += WG) {
    let st = stats[g];
    let mm = max(m, st.x);
    s = s * exp(m - mm) + st.y * exp(st.x - mm);
    m = mm;
  }
  r_m[lid] = m;
  r_s[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let om = r_m[lid + h];
      let mm = max(r_m[lid], om);
      r_s[lid] = r_s[lid] * exp(r_m[lid] - mm) + r_s[lid + h] * exp(om - mm);
      r_m[lid] = mm;
    }
    workgroupBarrier();
  }
  let lse = r_m[0] + log(r_s[0]);
  workgroupBarrier(); // r_s is reused below

  if (K_MAX == 1u || sp.temperature == 0.0) {
    // Greedy: the best of the list heads.
    var best = vec2<u32>(0u, PAD_IDX);
    for (var g = lid; g < chunks; g += WG) {
      let c = cand[g * LIST].xy;
      if (sort_better(c, best)) {
        best = c;
      }
    }
    sort_buf[lid] = vec4<u32>(best, 0u, 0u);
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (lid < h && sort_better(sort_buf[lid + h].xy, sort_buf[lid].xy)) {
        sort_buf[lid] = sort_buf[lid + h];
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      finish(sort_buf[0].y, key_f32(sort_buf[0].x) * inv_t - lse);
    }
    return;
  }

  // Round 1: the first `heads` entries of every list, as pairs (heads is even).
  let half_heads = shape.heads / 2u;
  let live = chunks * half_heads;
  let n1 = shape.n1;
  for (var e0 = lid; e0 < n1 / 2u; e0 += 4u * WG) {
    // Four independent loads in flight before the stores (a lone workgroup is latency-bound).
    var c: array<vec4<u32>, 4>;
    for (var u = 0u; u < 4u; u++) {
      let e = e0 + u * WG;
      c[u] = vec4<u32>(0u, PAD_IDX, 0u, PAD_IDX);
      if (e < live) {
        c[u] = cand[(e / half_heads) * LIST + e % half_heads];
      }
    }
    for (var u = 0u; u < 4u; u++) {
      let e = e0 + u * WG;
      if (e < n1 / 2u) {
        sort_buf[e] = c[u];
      }
    }
  }
  for (var g = lid; g < chunks; g += WG) {
    taken[g] = shape.heads;
  }
  workgroupBarrier();
  var n = n1; // workgroup-uniform: the barriers in sort_desc depend on it
  loop {
    sort_desc(2u, n, lid);
    if (lid == 0u) {
      atomicStore(&w_count[0], 0u);
    }
    workgroupBarrier();
    let tau = sort_entry(K_MAX - 1u);
    for (var g = lid; g < chunks; g += WG) {
      let t = taken[g];
      if (t < K_MAX && sort_better(cand[g * LIST + t / 2u - 1u].zw, tau)) {
        // t and K_MAX - t are even, so whole pairs move and every base is even.
        let add = min(t, K_MAX - t);
        let base = (K_MAX + atomicAdd(&w_count[0], add)) / 2u;
        for (var r = 0u; r < add / 2u; r++) {
          sort_buf[base + r] = cand[g * LIST + t / 2u + r];
        }
        taken[g] = t + add;
      }
    }
    workgroupBarrier();
    if (lid == 0u) {
      w_fill = atomicLoad(&w_count[0]);
    }
    let fill = workgroupUniformLoad(&w_fill);
    if (fill == 0u) {
      break;
    }
    for (var e = (K_MAX + fill) / 2u + lid; e < K_MAX; e += WG) {
      sort_buf[e] = vec4<u32>(0u, PAD_IDX, 0u, PAD_IDX);
    }
    workgroupBarrier();
    n = 2u * K_MAX;
  }

  // Entries [0, K_MAX) are the global top K_MAX, best first. Weights e_j = exp(z_j - z_0) over the
  // first k, their inclusive prefix sums C_j, then min-p (e_j >= min_p), top-p (smallest prefix with
  // C >= top_p * C_{k-1}) and the inverse-CDF draw: the first j < n with C_j > u * C_{n-1}.
  let kk = select(min(sp.top_k, K_MAX), K_MAX, sp.top_k == 0u);
  let z0 = key_f32(sort_entry(0u).x) * inv_t;
  var e = 0.0;
  if (lid < kk) {
    e = exp(key_f32(sort_entry(lid).x) * inv_t - z0);
  }
  r_s[lid] = e;
  if (lid < 4u) {
    atomicStore(&w_count[lid], 0u);
  }
  workgroupBarrier();
  for (var h = 1u; h < WG; h <<= 1u) {
    var add = 0.0;
    if (lid >= h) {
      add = r_s[lid - h];
    }
    workgroupBarrier();
    r_s[lid] += add;
    workgroupBarrier();
  }
  let total = r_s[kk - 1u];
  if (lid < kk) {
    if (e >= sp.min_p) {
      atomicAdd(&w_count[0], 1u);
    }
    if (r_s[lid] < sp.top_p * total) {
      atomicAdd(&w_count[1], 1u);
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var nk = max(atomicLoad(&w_count[0]), 1u);
    if (sp.top_p < 1.0) {
      nk = min(nk, atomicLoad(&w_count[1]) + 1u);
    }
    nk = min(nk, kk);
    let u = philox_u01(philox4x32_10(vec4<u32>(state[0], 0u, 0u, 0u), vec2<u32>(sp.seed_lo, sp.seed_hi)).x);
    w_n = nk;
    w_target = u * r_s[nk - 1u];
  }
  workgroupBarrier();
  if (lid < w_n && r_s[lid] <= w_target) {
    atomicAdd(&w_count[2], 1u);
  }
  workgroupBarrier();
  if (lid == 0u) {
    let r = min(atomicLoad(&w_count[2]), w_n - 1u);
    let cr = sort_entry(r);
    finish(cr.y, key_f32(cr.x) * inv_t - lse);
  }
}
