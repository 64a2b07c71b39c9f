// Variant "rope" of the decode split pass (attention_decode_split.wgsl, concatenated before this
// file, and rope_phase.wgsl for cosSin after it): RoPE of q and k and the KV-cache append of the T
// new tokens happen here, so a decode layer needs no rope_kv_append dispatch. Same rotation code as
// rope_kv_append (cosSin, then y0 = x0·c − x1·s, y1 = x1·c + x0·s), so q, K and V come out as that
// kernel writes them. No q/k norm (Qwen3 keeps the separate dispatch).
//
//   q:      the fused QKV output (fusedQkvLayout, at qOffset): token t's row starts at
//           qOffset + t·qRowStride and holds [q heads (nHeads, HD) | k heads (nKvHeads, HD) |
//           v heads (nKvHeads, HD)]. Only read: rope(q)·scaleLog2 goes to workgroup memory and is
//           not written back (nothing after attention reads q); k and v there stay as they were.
//   kc, vc: read_write here: K[slot(pos0+t)] <- rope(k), V[slot] <- v, slot(p) = pageTable[p/16]·16
//           + p%16; dropped, as in rope_kv_append, when p/16 is past the page table binding or the
//           slot is past cacheSlots.
//   phase:  (2, HD/8) vec4<u32>, ropePhaseBuffer (rope_phase.wgsl).
//
// Who appends, and why no ordering across workgroups is needed: the chunks [start, end) of the
// splits partition [0, kvLen = pos0 + T), so each new position pos0 + t (the last T keys) lies in
// exactly one non-empty chunk (the last one or few); that chunk's workgroup (split, kh) writes it for
// kv head kh only, and stores, storageBarrier()s, then loads (the body's workgroupBarrier after the
// slot table follows too). A workgroup reads only its own kv head's keys in its own [start, end):
// every new key it reads it wrote itself, keys < pos0 are not written by this dispatch, and what
// other workgroups write (other chunks, other kv heads) it never reads. (Given a page table that maps
// distinct logical pages to distinct physical pages, as every reader of the cache assumes.) Empty
// chunks (start ≥ end) return before this and write nothing.

override LANES: u32 = HD / 8u;  // rotation lanes per head: 4 pairs each (vec4 at l and at l + LANES)

@group(0) @binding(2) var<storage, read_write> kc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> vc: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> phase: array<vec4<u32>>;

// qs <- rope(q) · scaleLog2 for the workgroup's ROWS query rows (row r = t·G + g, head kh·G + g, at
// position pos0 + t).
fn stageQuery(kh: u32, G: u32, pos0: u32, lid: u32) {
  for (var e = lid; e < ROWS * LANES; e += NT) {
    let r = e / LANES;
    let lane = e % LANES;
    let t = r / G;
    let base = p.qOffset + t * p.qRowStride + (kh * G + r % G) * HD + lane * 4u;
    let x0 = loadQ4(base);
    let x1 = loadQ4(base + HD / 2u);
    let cs = cosSin(pos0 + t, phase[lane], phase[LANES + lane]);
    let y0 = x0 * cs.c - x1 * cs.s;
    let y1 = x1 * cs.c + x0 * cs.s;
    qs[r * PAD4 + lane] = y0 * p.scaleLog2;
    qs[r * PAD4 + lane + LANES] = y1 * p.scaleLog2;
  }
}

// K, V of the new positions inside [start, end), kv head kh: (T, LANES) items, each 2 vec4 of k and v.
fn appendNewKv(kh: u32, start: u32, end: u32, pos0: u32, lid: u32) {
  for (var e = lid; e < p.T * LANES; e += NT) {
    let t = e / LANES;
    let lane = e % LANES;
    let kp = pos0 + t;
    let page = kp / PAGE;
    if (kp >= start && kp < end && page < arrayLength(&pageTable)) {
      let slot = pageTable[page] * PAGE + kp % PAGE;
      if (slot < p.cacheSlots) {
        let src = p.qOffset + t * p.qRowStride + (p.nHeads + kh) * HD + lane * 4u;
        let vsrc = src + p.nKvHeads * HD;
        let x0 = loadQ4(src);
        let x1 = loadQ4(src + HD / 2u);
        let cs = cosSin(kp, phase[lane], phase[LANES + lane]);
        let dst = (slot * p.nKvHeads + kh) * C4 + lane;
        kc[dst] = x0 * cs.c - x1 * cs.s;
        kc[dst + LANES] = x1 * cs.c + x0 * cs.s;
        vc[dst] = loadQ4(vsrc);
        vc[dst + LANES] = loadQ4(vsrc + HD / 2u);
      }
    }
  }
  // Also an execution barrier: the stores above are visible to every thread of the workgroup after it.
  storageBarrier();
}
