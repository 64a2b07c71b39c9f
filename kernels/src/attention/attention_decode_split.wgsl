// Flash-decoding, pass 1 of 2: partial attention of a few query tokens over one chunk of the paged KV
// cache. The query tokens sit at positions pos0 .. pos0+T-1 (pos0 from a storage buffer, so one bind
// group serves every step); keys [0, kvLen = pos0 + T) are cut into nSplits chunks of
// max(ceil(kvLen / nSplits), BK) keys. Chunks past kvLen write neutral partials (m = MASKED, l = 0,
// acc = 0), so the dispatch size can be fixed for the longest context.
//
// One workgroup per (split, kv head), wid = (split, kvHead). Its ROWS = T·G query rows (row r = t·G + g,
// query head kvHead·G + g) share every K/V byte it reads, so K and V are read once per kv head.
// Within the chunk, blocks of CH keys are processed in three phases, with an online softmax across
// blocks:
//   1. K tiles of BK keys are staged (coalesced vec4 loads) in workgroup memory, the next tile's loads
//      in flight while the current one is used; each (key, row) score is one thread's dot product
//      over HD; scores (log2 domain) go to sc (ROWS, CH).
//   2. Block max per row by a tree; sc becomes exp2(s - m).
//   3. P·V with V read straight from memory: thread (kl, d4) accumulates vec4 column d4 over keys
//      kl, kl + KL, ... (KL = NT / (HD/4) key lanes); a warp reads whole 512-byte V rows. V loads go
//      out U keys per lane at a time, one group ahead (the first group with the first K tile).
// The key lanes are summed in workgroup memory at the end. Every loop that issues loads has a
// constant trip count and fills registers before using them, so the loads of a group overlap.
//
// Variants: attention.ts concatenates this file with one that declares the caches kc, vc (bindings 2,
// 3) and the two hooks main calls before the first cache load, stageQuery (fills qs) and appendNewKv:
//   attention_decode_split_plain.wgsl  q already roped, caches read-only, nothing appended;
//   attention_decode_split_rope.wgsl   RoPE of q and k and the append of the new K/V done here
//                                      (replaces the rope_kv_append dispatch; see that file).
//
//   q:         element (t, h, d) at q[qOffset + t·qRowStride + h·HD + d] f32
//   kc, vc:    (numPages·16, nKvHeads, HD) f32 as vec4; key j in slot pageTable[j/16]·16 + j%16
//   pageTable: (numPages) u32;  pos: (1) u32 = pos0
//   partAcc:   (T·nHeads, nSplits, HD) f32 as vec4 — unnormalized Σ p·v, p relative to the split's m
//   partMl:    (T·nHeads, nSplits) vec2<f32> — (m, l): the split's max (log2 domain) and Σ p

override HD: u32 = 128u;
override ROWS: u32 = 4u;  // T · G
override NT: u32 = 128u;  // threads: a power of two, a multiple of HD/4
override BK: u32 = 32u;   // keys per staged K tile
override CH: u32 = 256u;  // keys per softmax block, a multiple of BK

override C4: u32 = HD / 4u;
override PAD4: u32 = C4 + 1u;
override KL: u32 = NT / C4;
// Max tree: each row gets LPR = NT / RP2 threads (RP2 = ROWS rounded up to a power of two).
override RP2: u32 = 1u << (32u - countLeadingZeros(ROWS - 1u));
override LPR: u32 = NT / RP2;
// Key-lane sums at the end, RB rows per round in kbuf (RB·NT vec4) and red (RB·KL floats).
override RB: u32 = max(1u, min(min(ROWS, C4), BK * PAD4 / NT));
override KBUF: u32 = max(BK * PAD4, RB * NT);
override KITERS: u32 = (BK * C4 + NT - 1u) / NT;  // vec4 of a K tile each thread stages

const MAX_ROWS: u32 = 16u;   // attention.ts checks ROWS ≤ MAX_ROWS
const MAX_KITERS: u32 = 16u; // and KITERS ≤ MAX_KITERS
const U: u32 = 8u;           // V keys per lane in flight
const PAGE: u32 = 16u;
const MASKED: f32 = -1.0e30;  // finite stand-in for -inf

struct Params {
  T: u32,
  nHeads: u32,
  nKvHeads: u32,
  qOffset: u32,
  qRowStride: u32,
  scaleLog2: f32,  // scale · log2(e)
  nSplits: u32,
  cacheSlots: u32,  // numPages · 16 (rope variant: appends to slots past it are dropped)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
// bindings 2 (kc) and 3 (vc): in the variant file.
@group(0) @binding(4) var<storage, read> pageTable: array<u32>;
@group(0) @binding(5) var<storage, read> pos: array<u32>;
@group(0) @binding(6) var<storage, read_write> partAcc: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> partMl: array<vec2<f32>>;

var<workgroup> qs: array<vec4<f32>, ROWS * PAD4>;  // (ROWS, C4 + 1) prescaled queries
var<workgroup> kbuf: array<vec4<f32>, KBUF>;       // (BK, C4 + 1) K tile; at the end (RB, KL, C4)
var<workgroup> sc: array<f32, ROWS * CH>;          // (ROWS, CH) scores, then probabilities
var<workgroup> slots: array<u32, CH>;              // (CH) cache vec4 index of each key of the block
var<workgroup> red: array<f32, NT>;                // (RP2, LPR) max tree; at the end (RB, KL) sums

// q[i .. i+3] (q is read per element: any qOffset / qRowStride).
fn loadQ4(i: u32) -> vec4<f32> {
  return vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]);
}

// K tile of keys t0 .. t0+BK-1 of the block: this thread's KITERS vec4, all loads issued together.
fn loadK(t0: u32, bl: u32, lid: u32) -> array<vec4<f32>, MAX_KITERS> {
  var kr: array<vec4<f32>, MAX_KITERS>;
  for (var i = 0u; i < KITERS; i++) {
    let e = lid + i * NT;
    let j = t0 + e / C4;
    var val = vec4<f32>(0.0);
    if (e < BK * C4 && j < bl) { val = kc[slots[j] + e % C4]; }
    kr[i] = val;
  }
  return kr;
}

// V column d4 of keys j0, j0 + KL, ..., j0 + (U-1)·KL of the block (zeros past bl).
fn loadV(j0: u32, bl: u32, d4: u32) -> array<vec4<f32>, U> {
  var vr: array<vec4<f32>, U>;
  for (var u = 0u; u < U; u++) {
    let j = j0 + u * KL;
    var val = vec4<f32>(0.0);
    if (j < bl) { val = vc[slots[j] + d4]; }
    vr[u] = val;
  }
  return vr;
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kh = wid.y;
  let G = p.nHeads / p.nKvHeads;
  let S = p.nSplits;
  let pos0 = pos[0];
  let kvLen = pos0 + p.T;
  let chunk = max((kvLen + S - 1u) / S, BK);
  let start = min(split * chunk, kvLen);
  let end = min(start + chunk, kvLen);
  let kl = lid / C4;
  let d4 = lid % C4;

  if (start >= end) {
    for (var r = 0u; r < ROWS; r++) {
      let pr = (r / G) * p.nHeads + kh * G + r % G;
      if (kl == 0u) { partAcc[(pr * S + split) * C4 + d4] = vec4<f32>(0.0); }
      if (lid == 0u) { partMl[pr * S + split] = vec2<f32>(MASKED, 0.0); }
    }
    return;
  }

  // Variant hooks (see the header); the rope variant's append ends in storageBarrier(), so its new
  // K/V are visible to the loads below.
  stageQuery(kh, G, pos0, lid);
  appendNewKv(kh, start, end, pos0, lid);

  // Every thread carries the same m per row; acc and l are this thread's key lane's share.
  var m: array<f32, MAX_ROWS>;
  var l: array<f32, MAX_ROWS>;
  var acc: array<vec4<f32>, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    m[r] = MASKED;
    l[r] = 0.0;
    acc[r] = vec4<f32>(0.0);
  }

  for (var b0 = start; b0 < end; b0 += CH) {
    let bl = min(CH, end - b0);

    for (var j = lid; j < bl; j += NT) {
      let kp = b0 + j;
      slots[j] = ((pageTable[kp / PAGE] * PAGE + kp % PAGE) * p.nKvHeads + kh) * C4;
    }
    workgroupBarrier();

    // Phase 1: scores. The first K tile and the first V group go out together.
    var kr = loadK(0u, bl, lid);
    var vr = loadV(kl, bl, d4);
    for (var t0 = 0u; t0 < bl; t0 += BK) {
      for (var i = 0u; i < KITERS; i++) {
        let e = lid + i * NT;
        if (e < BK * C4) { kbuf[(e / C4) * PAD4 + e % C4] = kr[i]; }
      }
      workgroupBarrier();
      if (t0 + BK < bl) { kr = loadK(t0 + BK, bl, lid); }
      for (var e = lid; e < BK * ROWS; e += NT) {
        let jj = e % BK;
        let r = e / BK;
        let j = t0 + jj;
        if (j < bl) {
          var s = 0.0;
          for (var c = 0u; c < C4; c++) { s += dot(qs[r * PAD4 + c], kbuf[jj * PAD4 + c]); }
          // Causal within the few query tokens: token t sees keys ≤ pos0 + t.
          sc[r * CH + j] = select(MASKED, s, b0 + j <= pos0 + r / G);
        }
      }
      workgroupBarrier();
    }

    // Phase 2: block max per row, then probabilities in place.
    {
      let r = lid / LPR;
      var mx = MASKED;
      if (r < ROWS) {
        for (var j = lid % LPR; j < bl; j += LPR) { mx = max(mx, sc[r * CH + j]); }
      }
      red[lid] = mx;
    }
    workgroupBarrier();
    for (var stride = LPR / 2u; stride > 0u; stride >>= 1u) {
      if (lid % LPR < stride) { red[lid] = max(red[lid], red[lid + stride]); }
      workgroupBarrier();
    }
    for (var r = 0u; r < ROWS; r++) {
      let mNew = max(m[r], red[r * LPR]);
      let alpha = exp2(m[r] - mNew);
      m[r] = mNew;
      l[r] *= alpha;
      acc[r] *= alpha;
      for (var j = lid; j < bl; j += NT) {
        let sv = sc[r * CH + j];
        // A row may have no visible key in this block (T > 1): its m stays MASKED, p must be 0.
        sc[r * CH + j] = select(0.0, exp2(sv - mNew), sv > 0.5 * MASKED);
      }
    }
    workgroupBarrier();

    // Phase 3: P·V, group by group, the next group's loads in flight.
    for (var g0 = kl; g0 < bl; g0 += U * KL) {
      var vn = vr;
      if (g0 + U * KL < bl) { vn = loadV(g0 + U * KL, bl, d4); }
      for (var u = 0u; u < U; u++) {
        let j = g0 + u * KL;
        if (j < bl) {
          for (var r = 0u; r < ROWS; r++) {
            let pj = sc[r * CH + j];
            acc[r] += pj * vr[u];
            l[r] += pj;
          }
        }
      }
      vr = vn;
    }
    workgroupBarrier();
  }

  // Sum the key lanes, RB rows at a time.
  for (var r0 = 0u; r0 < ROWS; r0 += RB) {
    for (var i = 0u; i < RB; i++) {
      let r = r0 + i;
      if (r < ROWS) {
        kbuf[(i * KL + kl) * C4 + d4] = acc[r];
        if (d4 == 0u) { red[i * KL + kl] = l[r]; }
      }
    }
    workgroupBarrier();
    if (kl == 0u) {
      for (var i = 0u; i < RB; i++) {
        let r = r0 + i;
        if (r < ROWS) {
          var a = vec4<f32>(0.0);
          for (var k = 0u; k < KL; k++) { a += kbuf[(i * KL + k) * C4 + d4]; }
          let pr = (r / G) * p.nHeads + kh * G + r % G;
          partAcc[(pr * S + split) * C4 + d4] = a;
        }
      }
    }
    for (var i = 0u; i < RB; i++) {
      let r = r0 + i;
      if (lid == i && r < ROWS) {
        var ls = 0.0;
        for (var k = 0u; k < KL; k++) { ls += red[i * KL + k]; }
        let pr = (r / G) * p.nHeads + kh * G + r % G;
        partMl[pr * S + split] = vec2<f32>(m[r], ls);
      }
    }
    workgroupBarrier();
  }
}
