// Float64 reference of the synthetic decoder, read from the same files ORT loads: proves the peer
// runs a real decoder (the logits it returns are the model's), not a broken graph. Small shapes only.
import { openSync, readSync } from "node:fs";
import { join } from "node:path";
import { BLOCK, type Manifest } from "./model.ts";

function load(dir: string, m: Manifest, name: string): Float32Array | Uint8Array {
  const e = m.tensors[name];
  if (!e) throw new Error(`reference: no tensor ${name}`);
  const buf = new Uint8Array(e.length);
  const fd = openSync(join(dir, e.file), "r");
  readSync(fd, buf, 0, e.length, e.offset);
  return e.type === "f32" ? new Float32Array(buf.buffer) : buf;
}

/** A decoder with its KV cache; `step(tokens)` appends tokens and returns the last position's logits. */
export function referenceDecoder(dir: string, m: Manifest): (tokens: number[]) => Float64Array {
  const s = m.shape;
  const { hidden: H, heads: NH, kvHeads: NKV, headDim: D, inter: I, vocab: V } = s;
  const f32 = (n: string) => load(dir, m, n) as Float32Array;
  // Dequantised weight rows: W[n][k] = (code - 8) * scale[n, k / 32], codes low nibble first.
  const dequant = (w: string, K: number, N: number): Float64Array => {
    const q = load(dir, m, `${w}.q`) as Uint8Array;
    const sc = f32(`${w}.s`);
    const out = new Float64Array(N * K);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const byte = q[(n * K + k) >> 1]!;
        const code = k & 1 ? byte >> 4 : byte & 15;
        out[n * K + k] = (code - 8) * sc[n * (K / BLOCK) + Math.floor(k / BLOCK)]!;
      }
    }
    return out;
  };
  const matvec = (W: Float64Array, x: Float64Array, K: number, N: number) => {
    const y = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += W[n * K + k]! * x[k]!;
      y[n] = acc;
    }
    return y;
  };
  const rms = (x: Float64Array, g: Float32Array) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + s.eps);
    return x.map((v, i) => v * r * g[i]!);
  };
  const rope = (v: Float64Array, heads: number, pos: number) => {
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < D / 2; j++) {
        const a = pos / s.ropeTheta ** ((2 * j) / D);
        const c = Math.fround(Math.cos(a));
        const sn = Math.fround(Math.sin(a));
        const x1 = v[h * D + j]!;
        const x2 = v[h * D + j + D / 2]!;
        v[h * D + j] = x1 * c - x2 * sn;
        v[h * D + j + D / 2] = x2 * c + x1 * sn;
      }
    }
  };
  const embed = f32("embed_tokens");
  const layers = Array.from({ length: s.layers }, (_, l) => ({
    ln1: f32(`l${l}.ln1`),
    ln2: f32(`l${l}.ln2`),
    q: dequant(`l${l}.q`, H, NH * D),
    k: dequant(`l${l}.k`, H, NKV * D),
    v: dequant(`l${l}.v`, H, NKV * D),
    o: dequant(`l${l}.o`, NH * D, H),
    gate: dequant(`l${l}.gate`, H, I),
    up: dequant(`l${l}.up`, H, I),
    down: dequant(`l${l}.down`, I, H),
    keys: [] as Float64Array[],
    values: [] as Float64Array[],
  }));
  const lnf = f32("lnf");
  const head = dequant("lm_head", H, V);

  const forward = (token: number): Float64Array => {
    let h = Float64Array.from(embed.subarray(token * H, (token + 1) * H));
    for (const L of layers) {
      const pos = L.keys.length;
      const a = rms(h, L.ln1);
      const q = matvec(L.q, a, H, NH * D);
      const k = matvec(L.k, a, H, NKV * D);
      const v = matvec(L.v, a, H, NKV * D);
      rope(q, NH, pos);
      rope(k, NKV, pos);
      L.keys.push(k);
      L.values.push(v);
      const attn = new Float64Array(NH * D);
      for (let hh = 0; hh < NH; hh++) {
        const g = Math.floor(hh / (NH / NKV));
        const scores = L.keys.map((kk) => {
          let d = 0;
          for (let j = 0; j < D; j++) d += q[hh * D + j]! * kk[g * D + j]!;
          return d / Math.sqrt(D);
        });
        const mx = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - mx));
        const sum = e.reduce((x, y) => x + y, 0);
        L.values.forEach((vv, t) => {
          for (let j = 0; j < D; j++) attn[hh * D + j]! += (e[t]! / sum) * vv[g * D + j]!;
        });
      }
      const o = matvec(L.o, attn, NH * D, H);
      h = h.map((x, i) => x + o[i]!);
      const n2 = rms(h, L.ln2);
      const gg = matvec(L.gate, n2, H, I);
      const uu = matvec(L.up, n2, H, I);
      const mm = gg.map((x, i) => (x / (1 + Math.exp(-x))) * uu[i]!);
      const d = matvec(L.down, mm, I, H);
      h = h.map((x, i) => x + d[i]!);
    }
    return matvec(head, rms(h, lnf), H, V);
  };
  return (tokens) => {
    let logits: Float64Array = new Float64Array(V);
    for (const t of tokens) logits = forward(t);
    return logits;
  };
}

/** Relative L2 error of `got` against `want`. */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let e = 0;
  let w = 0;
  for (let i = 0; i < want.length; i++) {
    e += (got[i]! - want[i]!) ** 2;
    w += want[i]! ** 2;
  }
  return Math.sqrt(e / w);
}
