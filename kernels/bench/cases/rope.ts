// Fused RoPE + paged KV append at real shapes: Llama-3.1-8B (32/8 heads × 128, llama3 scaling),
// Qwen3-8B (same heads, q_norm/k_norm) and Llama-3.2-1B (32/8 × 64), decode (T = 1 at pos 4095) and a
// 2048-token prefill. Variants: threads per workgroup (WG); the first listed is the default.
import { randomF32, rng } from "@wisp/gpu-test";
import type { Dispatch } from "../../src/kernel.ts";
import { type RopeConfig, ropeKvAppend, ropePhaseBuffer } from "../../src/rope/rope.ts";
import type { BenchCase } from "../case.ts";

interface Shape {
  model: string;
  tokens: number;
  pos0: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  rope: RopeConfig;
  qkNorm: boolean;
}

const LLAMA3 = {
  type: "llama3",
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
} as const;

const SHAPES: Shape[] = [];
for (const [tokens, pos0] of [
  [1, 4095],
  [2048, 0],
]) {
  SHAPES.push(
    {
      model: "llama3-8b",
      tokens: tokens!,
      pos0: pos0!,
      nHeads: 32,
      nKvHeads: 8,
      headDim: 128,
      rope: { headDim: 128, theta: 500000, scaling: LLAMA3 },
      qkNorm: false,
    },
    {
      model: "qwen3-8b qknorm",
      tokens: tokens!,
      pos0: pos0!,
      nHeads: 32,
      nKvHeads: 8,
      headDim: 128,
      rope: { headDim: 128, theta: 1e6 },
      qkNorm: true,
    },
    {
      model: "llama3.2-1b",
      tokens: tokens!,
      pos0: pos0!,
      nHeads: 32,
      nKvHeads: 8,
      headDim: 64,
      rope: { headDim: 64, theta: 500000, scaling: { ...LLAMA3, factor: 32 } },
      qkNorm: false,
    },
  );
}

const VARIANTS = [128, 64, 256, 512];

function upload(device: GPUDevice, data: Float32Array | Uint32Array): GPUBuffer {
  const buffer = device.createBuffer({
    size: Math.max(16, data.byteLength),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  return buffer;
}

function benchCase(s: Shape, wg: number): BenchCase {
  const { tokens: T, nHeads, nKvHeads, headDim: hd } = s;
  const qkvWords = T * (nHeads + 2 * nKvHeads) * hd;
  // Read q, k, v once; write q back and k, v into the cache (+ the tiny phase/norm/table reads).
  const bytes = 4 * (qkvWords + T * (nHeads + 2 * nKvHeads) * hd) + 8 * hd * (s.qkNorm ? 2 : 1);
  return {
    name: `rope_kv_append ${s.model} T=${T} (${nHeads}/${nKvHeads}x${hd})`,
    variant: `wg${wg}`,
    bytes,
    // 3 flops per roped element (2 products and a sum), 3 more with the norm (square-add, scale, weight).
    flops: T * (nHeads + nKvHeads) * hd * (s.qkNorm ? 6 : 3),
    setup(device): Dispatch[] {
      const firstPage = Math.floor(s.pos0 / 16);
      const lastPage = Math.floor((s.pos0 + T - 1) / 16);
      const numPages = lastPage - firstPage + 1;
      // Physical pages permuted, as after some paging.
      const r = rng(T * 31 + hd);
      const phys = Array.from({ length: numPages }, (_, i) => i);
      for (let i = numPages - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [phys[i], phys[j]] = [phys[j]!, phys[i]!];
      }
      const table = new Uint32Array(lastPage + 1);
      for (let p = firstPage; p <= lastPage; p++) table[p] = phys[p - firstPage]!;
      const cacheWords = numPages * 16 * nKvHeads * hd;
      return [
        ropeKvAppend(
          device,
          {
            tokens: T,
            nHeads,
            nKvHeads,
            headDim: hd,
            numPages,
            qkNorm: s.qkNorm ? { eps: 1e-6 } : undefined,
          },
          {
            qkv: upload(device, randomF32(qkvWords, T + hd, 2)),
            pos: upload(device, new Uint32Array([s.pos0])),
            pageTable: upload(device, table),
            phase: ropePhaseBuffer(device, s.rope),
            kCache: upload(device, randomF32(cacheWords, 7, 1)),
            vCache: upload(device, randomF32(cacheWords, 8, 1)),
            qNorm: s.qkNorm ? upload(device, randomF32(hd, 9, 1.5)) : undefined,
            kNorm: s.qkNorm ? upload(device, randomF32(hd, 10, 1.5)) : undefined,
          },
          { wg },
        ),
      ];
    },
  };
}

export const ropeBenchCases: BenchCase[] = SHAPES.flatMap((s) => VARIANTS.map((wg) => benchCase(s, wg)));
