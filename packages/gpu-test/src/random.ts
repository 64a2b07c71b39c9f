// Seeded inputs (never zeros): mulberry32, identical in Node and the browser.

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [-scale, scale), with no exact zeros. */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = (r() * 2 - 1) * scale;
    if (v === 0) v = scale * 1e-3;
    out[i] = v;
  }
  return out;
}

/** Approximately normal (sum of uniforms), like trained weights: most small, a few large. */
export function randomNormalF32(n: number, seed: number, std = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < 4; j++) s += r();
    out[i] = (s - 2) * Math.sqrt(3) * std || std * 1e-3;
  }
  return out;
}
