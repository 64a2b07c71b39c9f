import {
  expectClose,
  expectEqualWords,
  type GuardedOutput,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuarded,
  readGuardedF32,
  SENTINEL,
  SENTINEL_WORDS,
  uploadBuffer,
} from "@wisp/gpu-test";
import { residualAddRef } from "../../src/elementwise/residual_add.ref.ts";
import { residualAdd } from "../../src/elementwise/residual_add.ts";
import { splitGateUp, swigluRef } from "../../src/elementwise/swiglu.ref.ts";
import { swiglu } from "../../src/elementwise/swiglu.ts";
import { runDispatches } from "../../src/kernel.ts";
import type { KernelCase } from "../case.ts";

// SwiGLU: exp and the division are a few ulps off in WGSL (exp: 3 + 2·|x| ulp), so against the f64
// reference the relative norm error stays near 1e-7; the stated bound is 1e-6.
const SWIGLU_TOL = { relNorm: 1e-6 };

/** A buffer holding `data`, followed by sentinel words: an in-place output that is also an input. */
function guardedInput(device: GPUDevice, data: Float32Array): GuardedOutput {
  const init = new Uint32Array(data.length + SENTINEL_WORDS).fill(SENTINEL);
  init.set(new Uint32Array(data.buffer, data.byteOffset, data.length));
  return { buffer: uploadBuffer(device, init), words: data.length };
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function swigluCase(
  tokens: number,
  inter: number,
  opts: { fused?: boolean; vec4?: boolean; wg?: number; smoke?: boolean; gate?: Float32Array } = {},
): KernelCase {
  const fused = opts.fused ?? false;
  const label = [
    fused ? "fused gate_up" : "gate, up",
    opts.vec4 === false ? "scalar" : "",
    opts.wg ? `wg=${opts.wg}` : "",
    opts.gate ? `gate ${opts.gate[0] === 1e4 ? "±1e4..±1e38" : "±20..±104"}` : "",
  ]
    .filter(Boolean)
    .join(" ");
  return {
    name: `swiglu T=${tokens} I=${inter} ${label}`,
    smoke: opts.smoke,
    async run(device) {
      const n = tokens * inter;
      const out = guardedOutput(device, n);
      let gate: ArrayLike<number>;
      let up: ArrayLike<number>;
      let dispatch: ReturnType<typeof swiglu>;
      const variant = { vec4: opts.vec4, wg: opts.wg };
      if (fused) {
        const gu = randomNormalF32(2 * n, tokens * 31 + inter, 2);
        if (opts.gate)
          for (let t = 0; t < tokens; t++)
            gu.set(opts.gate.subarray(t * inter, (t + 1) * inter), t * 2 * inter);
        ({ gate, up } = splitGateUp(gu, tokens, inter));
        dispatch = swiglu(
          device,
          { tokens, inter },
          { gateUp: uploadBuffer(device, gu), out: out.buffer },
          variant,
        );
      } else {
        const g = opts.gate ?? randomNormalF32(n, tokens * 17 + inter, 2);
        const u = randomF32(n, tokens * 13 + inter + 1, 1.5);
        gate = g;
        up = u;
        dispatch = swiglu(
          device,
          { tokens, inter },
          { gate: uploadBuffer(device, g), up: uploadBuffer(device, u), out: out.buffer },
          variant,
        );
      }
      runDispatches(device, [dispatch]);
      const e = expectClose(
        await readGuardedF32(device, out),
        swigluRef(gate, up, tokens, inter),
        SWIGLU_TOL,
      );
      return `relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
    },
  };
}

/** Gates far into both tails (exp(±x) would overflow/underflow), plus ordinary values; silu·up stays finite. */
function extremeGate(n: number, huge: boolean): Float32Array {
  const g = randomNormalF32(n, 3, 4);
  const tails = huge
    ? [1e4, -1e4, 1e30, -1e30, 3e35, -3e35, 1e37, -1e37]
    : [100, -100, 88.7, -88.7, 89, -89, 20, -20, 0, -0, 104, -104];
  for (let i = 0; i < n; i += 3) g[i] = tails[(i / 3) % tails.length]!;
  return g;
}

function residualCase(
  n: number,
  opts: { out?: boolean; vec4?: boolean; wg?: number; smoke?: boolean } = {},
): KernelCase {
  const label = [opts.out ? "+out" : "", opts.vec4 === false ? "scalar" : "", opts.wg ? `wg=${opts.wg}` : ""]
    .filter(Boolean)
    .join(" ");
  return {
    name: `residual_add n=${n} ${label}`.trim(),
    smoke: opts.smoke,
    async run(device) {
      const x = randomNormalF32(n, n * 7 + 1, 3);
      const y = randomF32(n, n * 7 + 2, 0.5);
      const xg = guardedInput(device, x);
      const out = opts.out ? guardedOutput(device, n) : undefined;
      runDispatches(device, [
        residualAdd(
          device,
          { n },
          { x: xg.buffer, y: uploadBuffer(device, y), out: out?.buffer },
          { vec4: opts.vec4, wg: opts.wg },
        ),
      ]);
      // The f32 sum is correctly rounded in WGSL: bit-exact against x + y rounded to f32.
      const ref = bits(residualAddRef(x, y));
      expectEqualWords(await readGuarded(device, xg), ref, "x");
      if (out) expectEqualWords(await readGuarded(device, out), ref, "out");
      return "bit-exact";
    },
  };
}

export const elementwiseCases: KernelCase[] = [
  swigluCase(1, 64, { smoke: true }),
  swigluCase(2, 13, { fused: true, smoke: true }),
  swigluCase(3, 172, { fused: true }),
  swigluCase(3, 172, { fused: true, vec4: false }),
  swigluCase(5, 13),
  swigluCase(1, 14336),
  swigluCase(1, 14336, { fused: true, wg: 64 }),
  swigluCase(64, 768, { fused: true }),
  swigluCase(7, 1376, { vec4: false, wg: 128 }),
  swigluCase(2, 256, { gate: extremeGate(512, false) }),
  swigluCase(2, 255, { fused: true, gate: extremeGate(510, false) }),
  swigluCase(1, 96, { gate: extremeGate(96, true) }),
  swigluCase(1, 95, { fused: true, gate: extremeGate(95, true) }),
  residualCase(64, { smoke: true }),
  residualCase(64, { out: true, smoke: true }),
  residualCase(13, { smoke: true }),
  residualCase(4096 * 3),
  residualCase(4096 * 3, { out: true, wg: 64 }),
  residualCase(4096, { vec4: false }),
  residualCase(1001, { out: true }),
  residualCase(576 * 7, { wg: 128 }),
  residualCase(288 * 512 + 4),
];
