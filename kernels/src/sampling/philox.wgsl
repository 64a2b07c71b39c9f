// Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"; the Random123
// constants). Counter-based: the output is a pure function of (counter, key), so the sampled
// token depends only on (seed, step), never on how many draws happened before. The 32x32->64
// multiply is built from 16-bit limbs so that philox.ts reproduces it bit for bit with u32 math.
// This file is a library snippet: sampling.ts prepends it to the kernels that draw.

// (hi, lo) of the 64-bit product a * b.
fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  // Carry out of the low word: each term < 2^16, so mid < 3 * 2^16 cannot overflow.
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var i = 0u; i < 10u; i++) {
    let m0 = philox_mulhilo(0xD2511F53u, c.x);
    let m1 = philox_mulhilo(0xCD9E8D57u, c.z);
    c = vec4<u32>(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
    k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

// Uniform in [0, 1) with 24 random bits: exact in f32 (and in f64 on the CPU), never 1.0.
fn philox_u01(r: u32) -> f32 {
  return f32(r >> 8u) * (1.0 / 16777216.0);
}
