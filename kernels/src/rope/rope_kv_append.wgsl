// Fused RoPE + KV-cache append, one dispatch for q, k and v of T tokens:
//   q   <- rope(q)                         in place, in the qkv buffer
//   K[slot(pos)] <- rope(k), V[slot(pos)] <- v   (the qkv buffer's k and v stay as they were)
// with pos = posBuf[posIndex] + t and slot(pos) = pageTable[pos / 16] · 16 + pos % 16.
// Entry point main_qknorm applies Qwen3's per-head RMSNorm to q and k first:
//   x <- x / sqrt(mean_d(x²) + eps) · w        (w: q_norm or k_norm weight, (headDim))
//
// RoPE is Hugging Face's rotate-half: for pair i < headDim/2, x0 = x[i], x1 = x[i + headDim/2],
//   out[i] = x0·cos − x1·sin, out[i + headDim/2] = x1·cos + x0·sin, angle = pos · invFreq[i].
//
// Buffers (element = f32; every offset/stride below is in vec4 = 4 f32 units, headDim % 8 == 0):
//   qkv:  q of token t, head h at qOff + t·qStride + h·headDim/4 (likewise k, v with nKvHeads);
//         the fused QKV matmul output (T, (nHeads + 2·nKvHeads)·headDim) is qOff 0, kOff nHeads·hd/4,
//         vOff (nHeads+nKvHeads)·hd/4, all strides (nHeads+2·nKvHeads)·hd/4.
//   kCache, vCache: (cacheSlots, nKvHeads, headDim) f32.
//   pageTable: (pages) u32; posBuf: u32 words.
//   phase: (2, headDim/2) u32 = (2, headDim/8) vec4<u32>: hi words then lo words of invFreq/2π as a
//          0.64 fixed-point fraction of a turn (rope_freqs.ts); cosSin() turns them into the
//          rotation (rope_phase.wgsl, concatenated after this file by rope.ts).
//   qNormW, kNormW: (headDim) f32.
//
// Work split: a "head item" is one (token, head slot) with head slots [q heads | k heads | v heads],
// so consecutive items are consecutive in the fused layout. A head has lanes = headDim/8 threads,
// each owning 4 rotation pairs (a vec4 at i and the vec4 at i + headDim/2), so each load is a
// contiguous 16-byte access. A workgroup holds headsPerWg = floor(WG / lanes) head items.

override WG: u32 = 128u;
const PAGE_TOKENS: u32 = 16u;
const NO_SLOT: u32 = 0xffffffffu;

struct Params {
  tokens: u32,
  nHeads: u32,
  nKvHeads: u32,
  lanes: u32,
  headsPerWg: u32,
  qOff: u32,
  qStride: u32,
  kOff: u32,
  kStride: u32,
  vOff: u32,
  vStride: u32,
  posIndex: u32,
  cacheSlots: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> posBuf: array<u32>;
@group(0) @binding(2) var<storage, read> pageTable: array<u32>;
@group(0) @binding(3) var<storage, read> phase: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> qkv: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> kCache: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> vCache: array<vec4<f32>>;
// main_qknorm only:
@group(0) @binding(7) var<storage, read> qNormW: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> kNormW: array<vec4<f32>>;

var<workgroup> red: array<f32, WG>;

const KIND_Q: u32 = 0u;
const KIND_K: u32 = 1u;
const KIND_V: u32 = 2u;

struct Item {
  valid: bool,
  kind: u32,
  head: u32,
  pos: u32,
  lane: u32,
  // vec4 index of this lane's first half (x[4·lane ..]); the second half is at src + lanes.
  src: u32,
}

fn headItem(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Item {
  var it: Item;
  let local = lid / p.lanes;
  it.lane = lid % p.lanes;
  let slots = p.nHeads + 2u * p.nKvHeads;
  let idx = (wid.x + wid.y * nwg.x) * p.headsPerWg + local;
  it.valid = local < p.headsPerWg && idx < p.tokens * slots;
  let t = idx / slots;
  let s = idx % slots;
  it.pos = posBuf[p.posIndex] + t;
  let hv = p.lanes * 2u; // headDim / 4
  if (s < p.nHeads) {
    it.kind = KIND_Q;
    it.head = s;
    it.src = p.qOff + t * p.qStride + s * hv + it.lane;
  } else if (s < p.nHeads + p.nKvHeads) {
    it.kind = KIND_K;
    it.head = s - p.nHeads;
    it.src = p.kOff + t * p.kStride + it.head * hv + it.lane;
  } else {
    it.kind = KIND_V;
    it.head = s - p.nHeads - p.nKvHeads;
    it.src = p.vOff + t * p.vStride + it.head * hv + it.lane;
  }
  return it;
}

// vec4 index of (slot(pos), head, lane) in kCache/vCache; NO_SLOT when the page table or the cache
// does not cover pos (the write is dropped rather than landing in another sequence's slot).
fn cacheIndex(it: Item) -> u32 {
  let page = it.pos / PAGE_TOKENS;
  if (page >= arrayLength(&pageTable)) { return NO_SLOT; }
  let slot = pageTable[page] * PAGE_TOKENS + it.pos % PAGE_TOKENS;
  if (slot >= p.cacheSlots) { return NO_SLOT; }
  return (slot * p.nKvHeads + it.head) * (p.lanes * 2u) + it.lane;
}

// x0 = x[4·lane ..], x1 = x[4·lane + headDim/2 ..] of a valid item (normed already for qknorm);
// cs = cosSin(it.pos, ...) for q and k items (unused for v).
fn finish(it: Item, x0: vec4<f32>, x1: vec4<f32>, cs: CosSin) {
  if (it.kind == KIND_V) {
    let dst = cacheIndex(it);
    if (dst != NO_SLOT) {
      vCache[dst] = x0;
      vCache[dst + p.lanes] = x1;
    }
    return;
  }
  let y0 = x0 * cs.c - x1 * cs.s;
  let y1 = x1 * cs.c + x0 * cs.s;
  if (it.kind == KIND_Q) {
    qkv[it.src] = y0;
    qkv[it.src + p.lanes] = y1;
    return;
  }
  let dst = cacheIndex(it);
  if (dst != NO_SLOT) {
    kCache[dst] = y0;
    kCache[dst + p.lanes] = y1;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let it = headItem(wid, nwg, lid);
  if (!it.valid) { return; }
  var cs: CosSin;
  if (it.kind != KIND_V) { cs = cosSin(it.pos, phase[it.lane], phase[p.lanes + it.lane]); }
  finish(it, qkv[it.src], qkv[it.src + p.lanes], cs);
}

@compute @workgroup_size(WG)
fn main_qknorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let it = headItem(wid, nwg, lid);
  var x0 = vec4<f32>(0.0);
  var x1 = vec4<f32>(0.0);
  var w0 = vec4<f32>(1.0);
  var w1 = vec4<f32>(1.0);
  var cs: CosSin;
  // Everything independent of the head's sum of squares is issued before the barrier, so the weight
  // loads and the sin/cos overlap the activation loads instead of following the barrier.
  if (it.valid) {
    x0 = qkv[it.src];
    x1 = qkv[it.src + p.lanes];
    if (it.kind == KIND_Q) {
      w0 = qNormW[it.lane];
      w1 = qNormW[it.lane + p.lanes];
    } else if (it.kind == KIND_K) {
      w0 = kNormW[it.lane];
      w1 = kNormW[it.lane + p.lanes];
    }
    if (it.kind != KIND_V) { cs = cosSin(it.pos, phase[it.lane], phase[p.lanes + it.lane]); }
  }
  // A head's lanes are consecutive threads: each sums the head's partial squares from workgroup
  // memory (no subgroups needed), 4 at a time when lanes % 4 == 0 (headDim % 32 == 0).
  red[lid] = dot(x0, x0) + dot(x1, x1);
  workgroupBarrier();
  if (!it.valid) { return; }
  if (it.kind != KIND_V) {
    let first = lid - it.lane;
    var ss = 0.0;
    var j = 0u;
    for (; j + 4u <= p.lanes; j += 4u) {
      let q = first + j;
      ss += (red[q] + red[q + 1u]) + (red[q + 2u] + red[q + 3u]);
    }
    for (; j < p.lanes; j++) { ss += red[first + j]; }
    let inv = inverseSqrt(ss / f32(p.lanes * 8u) + p.eps);
    x0 = x0 * inv * w0;
    x1 = x1 * inv * w1;
  }
  finish(it, x0, x1, cs);
}
