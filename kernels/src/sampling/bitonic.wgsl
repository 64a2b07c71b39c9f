// Bitonic sort of workgroup memory into the candidate order of common.wgsl (best first). A library
// snippet: the kernel declares `override WG` and `sort_buf: array<vec4<u32>, ..>` holding two
// (key, token id) entries per vec4: entry e is sort_buf[e / 2].xy when e is even, .zw when odd.
// Pairs of entries per 16-byte access keep consecutive threads on consecutive banks. Each thread
// owns groups of 4 consecutive entries: strides j >= 4 exchange through workgroup memory, strides 2
// and 1 run in registers, so sorting n entries from block size k0 costs one barrier per stride
// >= 4 plus one per block size (46 for n = 1024 from k0 = 2, instead of 55).

fn sort_better(x: vec2<u32>, y: vec2<u32>) -> bool {
  return x.x > y.x || (x.x == y.x && x.y < y.y);
}

fn sort_entry(e: u32) -> vec2<u32> {
  let v = sort_buf[e >> 1u];
  return select(v.xy, v.zw, (e & 1u) == 1u);
}

// Compare-exchange: (x, y) ordered best-first when desc, worst-first otherwise.
fn sort_cas(x: vec2<u32>, y: vec2<u32>, desc: bool) -> vec4<u32> {
  return select(vec4<u32>(x, y), vec4<u32>(y, x), sort_better(y, x) == desc);
}

// Strides 2 and 1 of block size k on 4 consecutive entries (a.xy, a.zw, b.xy, b.zw) whose block
// direction is desc. For k = 2 the second pair runs the other way.
fn sort_local(a: vec4<u32>, b: vec4<u32>, k: u32, desc: bool) -> array<vec4<u32>, 2> {
  var v0 = a.xy;
  var v1 = a.zw;
  var v2 = b.xy;
  var v3 = b.zw;
  if (k >= 4u) {
    let p = sort_cas(v0, v2, desc);
    let q = sort_cas(v1, v3, desc);
    v0 = p.xy;
    v2 = p.zw;
    v1 = q.xy;
    v3 = q.zw;
  }
  return array<vec4<u32>, 2>(sort_cas(v0, v1, desc), sort_cas(v2, v3, select(desc, false, k == 2u)));
}

// Sorts entries [0, n) whose blocks of k0 / 2 are already bitonic-sorted (k0 = 2: unsorted).
// n: a power of two >= 4; n and k0 workgroup-uniform.
fn sort_desc(k0: u32, n: u32, lid: u32) {
  let groups = n / 4u;
  for (var k = k0; k <= n; k <<= 1u) {
    for (var j = k >> 1u; j >= 4u; j >>= 1u) {
      for (var g = lid; g < groups; g += WG) {
        // Pairs q = 2g, 2g + 1: entries (a, a + j) and (a + 1, a + 1 + j), a even.
        let q = 2u * g;
        let a = ((q & ~(j - 1u)) << 1u) | (q & (j - 1u));
        let x = sort_buf[a >> 1u];
        let y = sort_buf[(a + j) >> 1u];
        // Blocks with (a & k) == 0 end best-first, the others worst-first.
        let desc = (a & k) == 0u;
        let c0 = sort_cas(x.xy, y.xy, desc);
        let c1 = sort_cas(x.zw, y.zw, desc);
        sort_buf[a >> 1u] = vec4<u32>(c0.xy, c1.xy);
        sort_buf[(a + j) >> 1u] = vec4<u32>(c0.zw, c1.zw);
      }
      workgroupBarrier();
    }
    for (var g = lid; g < groups; g += WG) {
      let r = sort_local(sort_buf[2u * g], sort_buf[2u * g + 1u], k, ((4u * g) & k) == 0u);
      sort_buf[2u * g] = r[0];
      sort_buf[2u * g + 1u] = r[1];
    }
    workgroupBarrier();
  }
}
