// Weight streaming (model/streaming.ts): with a GPU memory budget that keeps at most half the layers
// resident, the rest stream from host memory through a ring of slots every forward pass. The output
// must be bit-identical to the all-resident run — same logits at every prefill position (prefill
// chunks cross the streamed layers too) and the same greedy and sampled ids — and the counters must
// add up. stories260K (5 layers, INT4 and f32) and a random-init Qwen2 (q/k/v bias buffers stream
// too) and Qwen3 (q/k norms).
import { rmSync } from "node:fs";
import { nodeDevice } from "@wisp/gpu-test/node";
import { afterAll, describe, expect, it } from "vitest";
import { Engine, type LoadOptions } from "../src/engine/engine.ts";
import { folderSource } from "../src/loader/node-files.ts";
import type { FileSource } from "../src/loader/source.ts";
import { hashU32, randomModel, tempDir, writeHfModel } from "./random-model.ts";

const stories = new URL("../../../../shared/models/stories260K/hf", import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function load(source: FileSource, opts: Partial<LoadOptions>): Promise<Engine> {
  const { device } = await nodeDevice();
  return Engine.load(device, source, { contextLength: 64, requireTokenizer: false, ...opts });
}

/** A budget that keeps `resident` layers on the GPU next to `slots` streaming slots. */
const budgetFor = (e: Engine, resident: number, slots: number) =>
  e.memory.fixedBytes + (resident + slots) * e.memory.perLayerBytes + 100;

async function expectIdentical(
  source: FileSource,
  opts: Partial<LoadOptions>,
  ids: number[],
  cases: Array<{ resident: number; slots: number }>,
): Promise<void> {
  const ref = await load(source, opts);
  const layers = ref.config.numLayers;
  const refLogits = await ref.logits(ids);
  const greedy = await ref.generate(ids, { maxTokens: 24, temperature: 0, ignoreEos: true });
  const sampled = await ref.generate(ids, {
    maxTokens: 16,
    temperature: 0.9,
    topK: 20,
    seed: 7,
    ignoreEos: true,
  });
  const budgets = cases.map((c) => ({ ...c, budget: budgetFor(ref, c.resident, c.slots) }));
  expect(ref.streamStats).toBeUndefined();
  ref.destroy();
  for (const c of budgets) {
    const e = await load(source, { ...opts, gpuMemoryBudget: c.budget, streamSlots: c.slots });
    try {
      const s = e.streamStats!;
      expect(s, `budget ${c.budget}`).toBeDefined();
      expect(s.residentLayers).toBe(c.resident);
      expect(s.streamedLayers).toBe(layers - c.resident);
      expect(s.streamedLayers).toBeGreaterThanOrEqual(layers / 2);
      expect(s.slots).toBe(c.slots);
      expect(e.memory.residentBytes).toBeLessThanOrEqual(c.budget);
      const before = s.bytesStreamed;
      const logits = await e.logits(ids);
      const passes = Math.ceil(ids.length / Math.min(opts.prefillChunk ?? 512, 64));
      expect(s.bytesStreamed - before).toBe(passes * s.bytesPerPass);
      logits.forEach((row, p) => {
        expect(Buffer.from(row.buffer).equals(Buffer.from(refLogits[p]!.buffer)), `logits at ${p}`).toBe(
          true,
        );
      });
      const g = await e.generate(ids, { maxTokens: 24, temperature: 0, ignoreEos: true });
      expect(g.ids).toEqual(greedy.ids);
      expect(g.logprobs).toEqual(greedy.logprobs);
      const r = await e.generate(ids, {
        maxTokens: 16,
        temperature: 0.9,
        topK: 20,
        seed: 7,
        ignoreEos: true,
      });
      expect(r.ids).toEqual(sampled.ids);
      console.log(
        `[${c.resident}/${layers} resident, ${c.slots} slots] ${s.layerBytes} B/layer, ${s.bytesPerPass} B per pass, ` +
          `${s.layersUploaded} layer uploads so far, ${s.uploadHostMs.toFixed(1)} ms in writeBuffer`,
      );
    } finally {
      e.destroy();
    }
  }
}

describe("weight streaming is bit-identical to the resident run", () => {
  const storyIds = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 268, 414, 422, 395, 274, 287, 426];

  it("stories260K INT4: 2 of 5 resident / 2 slots; none resident / 1 slot", async () => {
    await expectIdentical(folderSource(stories), { quant: "int4" }, storyIds, [
      { resident: 2, slots: 2 },
      { resident: 0, slots: 1 },
    ]);
  });

  it("stories260K INT4, prefill in chunks of 5 (4 passes per prompt): 1 resident / 3 slots", async () => {
    await expectIdentical(folderSource(stories), { quant: "int4", prefillChunk: 5 }, storyIds, [
      { resident: 1, slots: 3 },
    ]);
  });

  it("stories260K f32: 2 of 5 resident / 2 slots", async () => {
    await expectIdentical(folderSource(stories), { quant: "f32" }, storyIds, [{ resident: 2, slots: 2 }]);
  });

  for (const [arch, seed] of [
    ["qwen2", 31],
    ["qwen3", 32],
  ] as const) {
    it(`random-init ${arch} (4 layers, INT4): 1 resident / 2 slots; 1 resident / 1 slot`, async () => {
      const config =
        arch === "qwen2"
          ? {
              architectures: ["Qwen2ForCausalLM"],
              model_type: "qwen2",
              hidden_size: 64,
              intermediate_size: 96,
              num_hidden_layers: 4,
              num_attention_heads: 4,
              num_key_value_heads: 2,
              vocab_size: 300,
              rms_norm_eps: 1e-6,
              rope_theta: 1000000,
              max_position_embeddings: 512,
              tie_word_embeddings: true,
            }
          : {
              architectures: ["Qwen3ForCausalLM"],
              model_type: "qwen3",
              hidden_size: 64,
              intermediate_size: 96,
              num_hidden_layers: 4,
              num_attention_heads: 4,
              num_key_value_heads: 1,
              head_dim: 32,
              vocab_size: 300,
              rms_norm_eps: 1e-6,
              rope_theta: 1000000,
              max_position_embeddings: 512,
              tie_word_embeddings: false,
            };
      const dir = writeHfModel(randomModel(config, seed, "F32"), tempDir("stream"));
      dirs.push(dir);
      const ids = Array.from({ length: 12 }, (_, i) => hashU32(seed, 999, i) % 300);
      await expectIdentical(folderSource(dir), { quant: "int4" }, ids, [
        { resident: 1, slots: 2 },
        { resident: 1, slots: 1 },
      ]);
    });
  }

  it("a budget below the fixed part + one slot is refused before anything runs", async () => {
    await expect(load(folderSource(stories), { gpuMemoryBudget: 1000 })).rejects.toThrow(
      /GPU memory budget of 1000 bytes is below the minimum/,
    );
    await expect(load(folderSource(stories), { gpuMemoryBudget: -1 })).rejects.toThrow(RangeError);
  });
});
