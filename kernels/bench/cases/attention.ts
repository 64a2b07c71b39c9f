// Attention over the paged KV cache at Llama-3-8B shapes (32 query / 8 kv heads × 128):
// - decode at context 4096 (T = 1, pos0 = 4095): bandwidth-bound, K and V read once;
// - prefill of 512 tokens from an empty cache: compute-bound, causal.
// Variants: split counts for decode (the first is the default for a 4096 context), tilings for prefill
// (those that fit the H100's 48 KiB of workgroup storage; the first is the default there).
import { randomF32, uploadBuffer as upload } from "@wisp/gpu-test";
import {
  type AttentionIo,
  attentionDecode,
  attentionDecodeSplitCandidates,
  attentionPrefill,
  type DecodeVariant,
  defaultDecodeSplits,
  type PrefillTile,
  prefillTileCandidates,
  prefillTileName,
} from "../../src/attention/attention.ts";
import type { BenchCase } from "../case.ts";

const PAGE = 16;
const N_HEADS = 32;
const N_KV = 8;
const HD = 128;

/** A cache holding `kvLen` tokens on an identity page table, q for `tokens` rows, and the output. */
function makeIo(device: GPUDevice, tokens: number, kvLen: number, seed: number): AttentionIo {
  const pages = Math.ceil(kvLen / PAGE);
  const slotWords = pages * PAGE * N_KV * HD;
  return {
    q: upload(device, randomF32(tokens * N_HEADS * HD, seed, 4)),
    k: upload(device, randomF32(slotWords, seed + 1)),
    v: upload(device, randomF32(slotWords, seed + 2)),
    pageTable: upload(
      device,
      Uint32Array.from({ length: pages }, (_, i) => i),
    ),
    pos: upload(device, new Uint32Array([kvLen - tokens])),
    out: device.createBuffer({ size: tokens * N_HEADS * HD * 4, usage: GPUBufferUsage.STORAGE }),
  };
}

const CTX = 4096;
const decodeVariants: DecodeVariant[] = [
  { splits: defaultDecodeSplits(CTX, N_KV) },
  ...attentionDecodeSplitCandidates.map((splits) => ({ splits })),
  { splits: 16, threads: 256 },
  { splits: 64, threads: 256 },
  { splits: 128, bk: 16 },
];
const variantLabel = (v: DecodeVariant) =>
  Object.entries(v)
    .map(([k, x]) => `${k}=${x}`)
    .join(",");

const decodeCases: BenchCase[] = decodeVariants
  .filter((v, i, all) => all.findIndex((w) => variantLabel(w) === variantLabel(v)) === i)
  .map((variant) => ({
    name: `attention_decode ctx=${CTX} heads=${N_HEADS}/${N_KV} hd=${HD}`,
    variant: variantLabel(variant),
    // K and V read once, q read, out written (the partials are extra traffic the split costs).
    bytes: 2 * CTX * N_KV * HD * 4 + 2 * N_HEADS * HD * 4,
    flops: 4 * CTX * N_HEADS * HD,
    setup(device: GPUDevice) {
      const io = makeIo(device, 1, CTX, 4096);
      return attentionDecode(
        device,
        { nHeads: N_HEADS, nKvHeads: N_KV, headDim: HD, maxSeqLen: CTX },
        io,
        variant,
      );
    },
  }));

const T = 512;
// The H100 (the bench target) has 48 KiB of workgroup storage and 1024 threads per workgroup.
const prefillTiles: PrefillTile[] = prefillTileCandidates(
  { maxComputeWorkgroupStorageSize: 48 * 1024, maxComputeInvocationsPerWorkgroup: 1024 },
  HD,
);

const prefillCases: BenchCase[] = prefillTiles.map((tile) => ({
  name: `attention_prefill T=${T} heads=${N_HEADS}/${N_KV} hd=${HD}`,
  variant: prefillTileName(tile),
  bytes: 2 * T * N_HEADS * HD * 4 + 2 * T * N_KV * HD * 4,
  flops: 4 * ((T * T) / 2) * N_HEADS * HD,
  setup(device: GPUDevice) {
    const io = makeIo(device, T, T, 512);
    return [attentionPrefill(device, { nHeads: N_HEADS, nKvHeads: N_KV, headDim: HD, tokens: T }, io, tile)];
  },
}));

export const attentionBenchCases: BenchCase[] = [...decodeCases, ...prefillCases];
