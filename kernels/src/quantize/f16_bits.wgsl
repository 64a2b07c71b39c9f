// Exact f16 <-> f32 bit conversions in integer arithmetic, mirroring src/format/f16.ts bit for bit.
// unpack2x16float may flush f16 subnormals and pack2x16float's rounding is implementation-defined,
// so kernels that must agree with the CPU bit for bit prepend this file to their code.

// f16 bits (low 16) -> f32 bits, exact, subnormals included (an f16 subnormal is an f32 normal).
fn f16_to_f32_bits(h: u32) -> u32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    if (m == 0u) { return sign; }
    // m·2^-24 = 1.f·2^(p-24) with p the leading bit of m: f32 exponent field p + 103.
    let p = firstLeadingBit(m);
    return sign | ((p + 103u) << 23u) | ((m << (23u - p)) & 0x7fffffu);
  }
  if (e == 31u) { return sign | 0x7f800000u | (m << 13u); }
  return sign | ((e + 112u) << 23u) | (m << 13u);
}

// f32 bits -> f16 bits, round to nearest even, overflow (and Inf) saturating to ±65504, NaN -> 0x7e00:
// f32ToF16Bits of src/format/f16.ts, line for line.
fn f32_to_f16_bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let exp = (b >> 23u) & 0xffu;
  let man = b & 0x7fffffu;
  if (exp == 0xffu) { return sign | select(0x7bffu, 0x7e00u, man != 0u); }
  let e = i32(exp) - 112;
  if (e >= 31) { return sign | 0x7bffu; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    let full = man | 0x800000u;
    let shift = u32(14 - e);
    let q = full >> shift;
    let rem = full & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    let up = select(0u, 1u, rem > half || (rem == half && (q & 1u) == 1u));
    return sign | (q + up);
  }
  let q = (u32(e) << 10u) | (man >> 13u);
  let rem = man & 0x1fffu;
  let up = select(0u, 1u, rem > 0x1000u || (rem == 0x1000u && (q & 1u) == 1u));
  let r = q + up; // a carry into the exponent is the correct rounding
  return sign | select(r, 0x7bffu, r >= 0x7c00u);
}
