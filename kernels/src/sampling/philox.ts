// Philox4x32-10, the CPU twin of philox.wgsl: the same 16-bit-limb multiply with u32 math only, so
// both sides produce identical words for a (counter, key) pair.

/** (hi, lo) of the 64-bit product a * b, from 16-bit limbs as in philox.wgsl. */
export function mulhilo32(a: number, b: number): [number, number] {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
  return [hi, Math.imul(a, b) >>> 0];
}

/** Philox4x32 with 10 rounds: counter (4 u32), key (2 u32) -> 4 u32. */
export function philox4x32_10(
  ctr: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let i = 0; i < 10; i++) {
    const [hi0, lo0] = mulhilo32(0xd2511f53, c0);
    const [hi1, lo1] = mulhilo32(0xcd9e8d57, c2);
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** Uniform in [0, 1) with 24 random bits, exactly the f32 value philox_u01 gives on the GPU. */
export function philoxU01(r: number): number {
  return (r >>> 8) / 16777216;
}

/** The sampler's draw for (seed, step): counter (step, 0, 0, 0), key (seedLo, seedHi), first word. */
export function samplingUniform(seedLo: number, seedHi: number, step: number): number {
  return philoxU01(philox4x32_10([step >>> 0, 0, 0, 0], [seedLo >>> 0, seedHi >>> 0])[0]);
}
