// The INT8 lm_head in the runtime's linear layer (model/linear.ts) and its storage rule (weights.ts
// headStorage), on Dawn: row parts under a small binding limit (filled from f32 through the GPU
// quantizer and from GGUF Q8_0 blocks), GEMV per part against the format's CPU spec, and linearLayout's
// bytes against the real allocation. The whole-model paths are in architectures/packed/cli tests.
import { randomNormalF32, rng } from "@wisp/gpu-test";
import { nodeDevice } from "@wisp/gpu-test/node";
import { dequantizeInt8, matmulRef, quantizeInt8, repackQ8_0 } from "@wisp/kernels";
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../src/config.ts";
import {
  destroyLinear,
  gemv,
  linearBuffers,
  linearBytes,
  linearFromF32,
  linearFromInt8,
  linearLayout,
  storageBuffer,
  uploadF32,
} from "../src/model/linear.ts";
import { readBuffers } from "../src/model/streaming.ts";
import { allocateHead, headStorage } from "../src/model/weights.ts";

/** The real device with a smaller storage binding limit (the allocators split rows by it). */
function limited(device: GPUDevice, binding: number): GPUDevice {
  const limits = new Proxy(device.limits, {
    get: (t, p) => (p === "maxStorageBufferBindingSize" ? binding : Reflect.get(t, p, t)),
  });
  return new Proxy(device, {
    get: (t, p) => {
      if (p === "limits") return limits;
      const v = Reflect.get(t, p, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

async function readF32(device: GPUDevice, buffer: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array((await readBuffers(device, [buffer])).buffer, 0, n);
}

const N = 300;
const K = 64; // kb = 2: 68 bytes a row, so a 64·68·2-byte binding holds 128 rows → parts of 128, 128, 44

describe("INT8 Linear", () => {
  it("f32 → GPU quantizer, in 3 row parts: the spec's bytes, GEMV per part equals the f64 reference", async () => {
    const { device: real } = await nodeDevice();
    const device = limited(real, 64 * 68 * 2);
    const w = randomNormalF32(N * K, 1, 0.05);
    const bias = randomNormalF32(N, 2, 0.5);
    const l = linearFromF32(device, "head", w, N, K, "int8", bias);
    try {
      expect(l.parts.map((p) => p.rows)).toEqual([128, 128, 44]);
      expect(linearLayout(device, N, K, "int8", true)).toEqual({ bytes: linearBytes(l), parts: 3 });
      const spec = quantizeInt8(w, N, K);
      // Each part holds its rows' qweight words and scales words of the spec, in order.
      const words = new Uint32Array((await readBuffers(device, linearBuffers(l).slice(0, 6))).buffer);
      let o = 0;
      for (const p of l.parts) {
        const q = spec.qweight.subarray(p.row0 * 2 * 8, (p.row0 + p.rows) * 2 * 8);
        const s = spec.scales.subarray(p.row0, p.row0 + p.rows);
        expect([...words.subarray(o, o + q.length)]).toEqual([...q]);
        o += Math.ceil((q.length * 4) / 16) * 4;
        expect([...words.subarray(o, o + s.length)]).toEqual([...s]);
        o += Math.ceil((s.length * 4) / 16) * 4;
      }
      const x = randomNormalF32(K, 3, 1);
      const xb = uploadF32(real, "x", x);
      const y = storageBuffer(real, "y", N * 4);
      const enc = real.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (const d of gemv(device, l, 1, xb, y)) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(...d.workgroups);
      }
      pass.end();
      real.queue.submit([enc.finish()]);
      const got = await readF32(real, y, N);
      const ref = matmulRef(x, dequantizeInt8(spec), 1, N, K, bias);
      for (let i = 0; i < N; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(1e-5);
      expect(() => gemv(device, l, 2, xb, y)).toThrow(/split weights need m = 1/);
    } finally {
      destroyLinear(l);
    }
  });

  it("GGUF Q8_0 blocks repacked into row parts: each part holds its rows of the one-part bytes", async () => {
    const { device: real } = await nodeDevice();
    const r = rng(5);
    const raw = new Uint8Array(N * 2 * 34).map(() => Math.floor(r() * 256));
    for (let s = 0; s < N * 2; s++) raw[s * 34 + 1] = 0x20; // finite, moderate f16 scales
    const m = repackQ8_0(raw, N, K);
    const split = linearFromInt8(limited(real, 64 * 68 * 2), "head", m);
    const whole = linearFromInt8(real, "head", m);
    const words = async (b: GPUBuffer, n: number) => [
      ...new Uint32Array((await readBuffers(real, [b])).buffer, 0, n),
    ];
    try {
      expect(split.parts.map((p) => p.rows)).toEqual([128, 128, 44]);
      const w = whole.parts[0]!.buffers;
      if (!("qweight" in w)) throw new Error("INT8 parts hold qweight");
      const q = await words(w.qweight, N * 16);
      const sc = await words(w.scales, N);
      for (const p of split.parts) {
        if (!("qweight" in p.buffers)) throw new Error("INT8 parts hold qweight");
        expect(await words(p.buffers.qweight, p.rows * 16)).toEqual(
          q.slice(p.row0 * 16, (p.row0 + p.rows) * 16),
        );
        expect(await words(p.buffers.scales, p.rows)).toEqual(sc.slice(p.row0, p.row0 + p.rows));
      }
      expect(q).toEqual([...m.qweight]);
      expect(sc).toEqual([...m.scales]);
    } finally {
      destroyLinear(split);
      destroyLinear(whole);
    }
  });
});

describe("headStorage", () => {
  const config = (tie: boolean): ModelConfig =>
    ({ vocabSize: 1000, hiddenSize: 64, tieWordEmbeddings: tie }) as unknown as ModelConfig;

  it("INT8 for an INT4 model unless asked for INT4, the source is Q4_0, or a tied INT8 table needs two bindings", async () => {
    const { device } = await nodeDevice();
    expect(headStorage(device, config(true), "f32")).toBe("f32");
    expect(headStorage(device, config(true), "int4")).toBe("int8");
    expect(headStorage(device, config(false), "int4", "int4")).toBe("int4");
    expect(headStorage(device, config(false), "int4", "int8", "Q4_0")).toBe("int4");
    expect(headStorage(device, config(false), "int4", "int8", "Q8_0")).toBe("int8");
    // 1000 rows: INT8 68 B a row, INT4 36 B; a binding of 40,000 B holds 576 INT8 rows, 1088 INT4 rows.
    const small = limited(device, 40_000);
    expect(headStorage(small, config(true), "int4")).toBe("int4");
    expect(headStorage(small, config(false), "int4")).toBe("int8"); // an lm_head alone may be split
    const { embed, lmHead } = allocateHead(small, config(false), "int4", "int8");
    expect([embed.quant, embed.parts.length, lmHead.quant, lmHead.parts.length]).toEqual([
      "int4",
      1,
      "int8",
      2,
    ]);
    destroyLinear(embed);
    destroyLinear(lmHead);
  });
});
