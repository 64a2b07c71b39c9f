// Causal flash attention over the paged KV cache for T new query tokens at positions pos0 .. pos0+T-1
// (pos0 from a storage buffer, so prefill can continue an existing cache); the query at position P
// attends keys 0..P. Keys are walked in tiles of BK staged in workgroup memory with an online softmax
// (running max m and sum l per row, accumulator rescaled by exp2(m_old - m_new)): the T×T score
// matrix never exists.
//
// One workgroup per (tile of BR query rows, kv head). The rows of a kv head are the (token, head)
// pairs of its GQA group, row R = t·G + g (query head h = kvHead·G + g, G = nHeads / nKvHeads), so one
// staged K/V tile serves every query head that shares it.
//
//   q:         element (t, h, d) at q[qOffset + t·qRowStride + h·HD + d] f32 (q may be a view into a
//              fused qkv (T, (nHeads + 2·nKvHeads)·HD) buffer)
//   kc, vc:    (numPages·16, nKvHeads, HD) f32, read as vec4; key j lives in slot
//              pageTable[j / 16]·16 + j % 16
//   pageTable: (numPages) u32;  pos: (1) u32 = pos0
//   out:       (T, nHeads, HD) f32, written as vec4
//
// Threads form a TY×TX grid (TY = BR/RM). Thread (ty, tx) owns rows ty + TY·i (i < RM); in the score
// step it computes keys tx + TX·c (c < CK = BK/TX) of the tile, in the P·V step vec4 columns
// tx + TX·v (v < CV = HD/4/TX) of the output. Strided ownership keeps the workgroup-memory reads of a
// warp on distinct banks (rows are padded to C4 + 1 vec4).

override HD: u32 = 128u;
override BR: u32 = 32u;
override BK: u32 = 32u;
override TX: u32 = 16u;
override RM: u32 = 4u;

override TY: u32 = BR / RM;
override WG: u32 = TY * TX;
override C4: u32 = HD / 4u;
override CK: u32 = BK / TX;
override CV: u32 = C4 / TX;
override PAD4: u32 = C4 + 1u;
override SITERS: u32 = (BK * C4 + WG - 1u) / WG;  // vec4 of K (and of V) each thread stages per tile

// Bounds of the per-thread register arrays (private arrays need constant sizes); attention.ts checks
// RM ≤ MAX_RM, RM·CK ≤ MAX_S, RM·CV ≤ MAX_O, CK ≤ MAX_CK, CV ≤ MAX_CV, SITERS ≤ MAX_SITERS.
const MAX_RM: u32 = 8u;
const MAX_S: u32 = 32u;
const MAX_O: u32 = 32u;
const MAX_CK: u32 = 16u;
const MAX_CV: u32 = 16u;
const MAX_SITERS: u32 = 16u;

const PAGE: u32 = 16u;
// Finite stand-in for -inf (WGSL implementations may assume no infinities).
const MASKED: f32 = -1.0e30;

struct Params {
  T: u32,
  nHeads: u32,
  nKvHeads: u32,
  qOffset: u32,
  qRowStride: u32,
  // scale · log2(e): scores are kept in the log2 domain so the softmax uses exp2.
  scaleLog2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> vc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> pageTable: array<u32>;
@group(0) @binding(5) var<storage, read> pos: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> qs: array<vec4<f32>, BR * PAD4>;  // (BR, C4 + 1) prescaled queries
var<workgroup> kv: array<vec4<f32>, BK * PAD4>;  // (BK, C4 + 1) the K tile, then the V tile
var<workgroup> mx: array<f32, BR * TX>;          // (BR, TX) per-thread partial row maxima
var<workgroup> ps: array<f32, BR * BK>;          // (BR, BK) probabilities of the tile

// The K and V tiles of keys k0 .. k0+BK-1 are loaded into registers one tile ahead (all loads of a
// tile issued together, in flight while the previous tile is computed) and stored to workgroup memory
// when their turn comes. Keys ≥ kvEnd read as zeros, so slots past the sequence (random data, maybe
// NaN) never reach the arithmetic.
struct Staged {
  k: array<vec4<f32>, MAX_SITERS>,
  v: array<vec4<f32>, MAX_SITERS>,
}

fn loadTile(k0: u32, kvEnd: u32, kh: u32, lid: u32) -> Staged {
  var st: Staged;
  for (var i = 0u; i < SITERS; i++) {
    let e = lid + i * WG;
    let kp = k0 + e / C4;
    var kval = vec4<f32>(0.0);
    var vval = vec4<f32>(0.0);
    if (e < BK * C4 && kp < kvEnd) {
      let idx = ((pageTable[kp / PAGE] * PAGE + kp % PAGE) * p.nKvHeads + kh) * C4 + e % C4;
      kval = kc[idx];
      vval = vc[idx];
    }
    st.k[i] = kval;
    st.v[i] = vval;
  }
  return st;
}

fn storeTile(t: ptr<function, array<vec4<f32>, MAX_SITERS>>, lid: u32) {
  for (var i = 0u; i < SITERS; i++) {
    let e = lid + i * WG;
    if (e < BK * C4) { kv[(e / C4) * PAD4 + e % C4] = (*t)[i]; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let G = p.nHeads / p.nKvHeads;
  let nRows = p.T * G;
  let nTiles = (nRows + BR - 1u) / BR;
  let linear = wid.x + wid.y * nwg.x;
  if (linear >= nTiles) { return; }
  // Later rows see more keys: start the heaviest tiles first so the tail of the dispatch is short.
  let tile = nTiles - 1u - linear;
  let kh = wid.z;
  let pos0 = pos[0];
  let row0 = tile * BR;
  let kvEnd = pos0 + (min(row0 + BR, nRows) - 1u) / G + 1u;  // keys any row of the tile may see
  let ty = lid / TX;
  let tx = lid % TX;

  for (var e = lid; e < BR * C4; e += WG) {
    let r = e / C4;
    let d4 = e % C4;
    // Padding rows past the end repeat the last row; they are computed but never written.
    let R = min(row0 + r, nRows - 1u);
    let base = p.qOffset + (R / G) * p.qRowStride + (kh * G + R % G) * HD + d4 * 4u;
    qs[r * PAD4 + d4] = vec4<f32>(q[base], q[base + 1u], q[base + 2u], q[base + 3u]) * p.scaleLog2;
  }

  var lim: array<u32, MAX_RM>;  // last key position row i may attend
  var m: array<f32, MAX_RM>;
  var l: array<f32, MAX_RM>;
  var o: array<vec4<f32>, MAX_O>;  // (RM, CV)
  for (var i = 0u; i < RM; i++) {
    let R = min(row0 + ty + TY * i, nRows - 1u);
    lim[i] = pos0 + R / G;
    m[i] = MASKED;
    l[i] = 0.0;
    for (var v = 0u; v < CV; v++) { o[i * CV + v] = vec4<f32>(0.0); }
  }

  let nKeyTiles = (kvEnd + BK - 1u) / BK;
  var st = loadTile(0u, kvEnd, kh, lid);
  for (var kt = 0u; kt < nKeyTiles; kt++) {
    let k0 = kt * BK;
    storeTile(&st.k, lid);
    workgroupBarrier();

    // Scores of this thread's RM rows × CK keys.
    var s: array<f32, MAX_S>;  // (RM, CK)
    for (var i = 0u; i < RM * CK; i++) { s[i] = 0.0; }
    for (var d4 = 0u; d4 < C4; d4++) {
      var kk: array<vec4<f32>, MAX_CK>;
      for (var c = 0u; c < CK; c++) { kk[c] = kv[(tx + TX * c) * PAD4 + d4]; }
      for (var i = 0u; i < RM; i++) {
        let qq = qs[(ty + TY * i) * PAD4 + d4];
        for (var c = 0u; c < CK; c++) { s[i * CK + c] += dot(qq, kk[c]); }
      }
    }
    for (var i = 0u; i < RM; i++) {
      var rowMax = MASKED;
      for (var c = 0u; c < CK; c++) {
        let sv = select(MASKED, s[i * CK + c], k0 + tx + TX * c <= lim[i]);
        s[i * CK + c] = sv;
        rowMax = max(rowMax, sv);
      }
      mx[(ty + TY * i) * TX + tx] = rowMax;
    }
    workgroupBarrier();

    // Every K read is done: V takes the buffer, and the next tile's loads go out.
    storeTile(&st.v, lid);
    if (kt + 1u < nKeyTiles) { st = loadTile(k0 + BK, kvEnd, kh, lid); }
    for (var i = 0u; i < RM; i++) {
      let r = ty + TY * i;
      var tileMax = MASKED;
      for (var x = 0u; x < TX; x++) { tileMax = max(tileMax, mx[r * TX + x]); }
      let mNew = max(m[i], tileMax);
      let alpha = exp2(m[i] - mNew);
      m[i] = mNew;
      l[i] *= alpha;
      for (var v = 0u; v < CV; v++) { o[i * CV + v] *= alpha; }
      for (var c = 0u; c < CK; c++) {
        let sv = s[i * CK + c];
        ps[r * BK + tx + TX * c] = select(0.0, exp2(sv - mNew), sv > 0.5 * MASKED);
      }
    }
    workgroupBarrier();

    for (var j = 0u; j < BK; j++) {
      var vv: array<vec4<f32>, MAX_CV>;
      for (var v = 0u; v < CV; v++) { vv[v] = kv[j * PAD4 + tx + TX * v]; }
      for (var i = 0u; i < RM; i++) {
        let pj = ps[(ty + TY * i) * BK + j];
        l[i] += pj;
        for (var v = 0u; v < CV; v++) { o[i * CV + v] += pj * vv[v]; }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < RM; i++) {
    let R = row0 + ty + TY * i;
    if (R < nRows) {
      let t = R / G;
      let h = kh * G + R % G;
      let inv = 1.0 / l[i];
      for (var v = 0u; v < CV; v++) {
        out[(t * p.nHeads + h) * C4 + tx + TX * v] = o[i * CV + v] * inv;
      }
    }
  }
}
