// Flash-decoding, pass 2 of 2: merges the SPLITS partials of each query row with the log-sum-exp
// rule: M = max_s m_s, w_s = exp2(m_s - M), out = Σ_s w_s·acc_s / Σ_s w_s·l_s. Neutral partials
// (m = MASKED, acc = 0, l = 0) get w = 0.
//
// One workgroup per query row (t, h) (grid1d over T·nHeads rows). Thread (sl, d4) owns vec4 column d4
// of splits sl, sl + SL, ... (SL = NT / (HD/4) split lanes, PER splits each). Its loads all go out at
// once, before the max is known (a loop over the splits with loads in it would be one memory round
// trip per split); the lanes are summed in workgroup memory.
//
//   partAcc: (rows, SPLITS, HD) f32 as vec4;  partMl: (rows, SPLITS) vec2<f32> (m, l)
//   out:     (rows, HD) f32 as vec4 = (T, nHeads, HD)

override HD: u32 = 128u;
override SPLITS: u32 = 64u;
override NT: u32 = 256u;  // a multiple of HD/4
override C4: u32 = HD / 4u;
override SL: u32 = NT / C4;
override PER: u32 = (SPLITS + SL - 1u) / SL;

const MAX_PER: u32 = 32u;  // attention.ts checks PER ≤ MAX_PER
const MASKED: f32 = -1.0e30;

struct Params {
  rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partAcc: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> partMl: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> ml: array<vec2<f32>, SPLITS>;
var<workgroup> accs: array<vec4<f32>, NT>;  // (SL, C4)
var<workgroup> dens: array<f32, SL>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let sl = lid / C4;
  let d4 = lid % C4;
  var a: array<vec4<f32>, MAX_PER>;
  for (var i = 0u; i < PER; i++) {
    let s = sl + i * SL;
    var v = vec4<f32>(0.0);
    if (s < SPLITS) { v = partAcc[(row * SPLITS + s) * C4 + d4]; }
    a[i] = v;
  }
  for (var s = lid; s < SPLITS; s += NT) { ml[s] = partMl[row * SPLITS + s]; }
  workgroupBarrier();
  var M = MASKED;
  for (var s = 0u; s < SPLITS; s++) { M = max(M, ml[s].x); }
  var acc = vec4<f32>(0.0);
  var den = 0.0;
  for (var i = 0u; i < PER; i++) {
    let s = sl + i * SL;
    if (s < SPLITS) {
      let w = exp2(ml[s].x - M);
      acc += w * a[i];
      den += w * ml[s].y;
    }
  }
  accs[lid] = acc;
  if (d4 == 0u) { dens[sl] = den; }
  workgroupBarrier();
  if (sl == 0u) {
    var total = vec4<f32>(0.0);
    var dsum = 0.0;
    for (var k = 0u; k < SL; k++) {
      total += accs[k * C4 + d4];
      dsum += dens[k];
    }
    out[row * C4 + d4] = total / dsum;
  }
}
