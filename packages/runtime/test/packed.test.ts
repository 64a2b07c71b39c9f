// Packed weights (model/packed.ts): the first load writes the GPU-ready groups into a cache; the second
// load reads only them (no checkpoint, no quantization) and must be bit-identical — logits at every
// position and greedy ids — resident and streaming. A stale or damaged cache is never misread.
import { nodeDevice } from "@wisp/gpu-test/node";
import { describe, expect, it } from "vitest";
import { Engine, type LoadOptions } from "../src/engine/engine.ts";
import { ModelFileError } from "../src/errors.ts";
import { folderSource } from "../src/loader/node-files.ts";
import type { FileSource } from "../src/loader/source.ts";
import { PACKED_META, type PackedCache } from "../src/model/packed.ts";

const stories = new URL("../../../../shared/models/stories260K/hf", import.meta.url).pathname;
const ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 268, 414];

/** A PackedCache in memory that counts reads, and a FileSource that counts weight-file reads. */
function memoryCache(): PackedCache & { blobs: Map<string, Uint8Array>; gets: number } {
  const blobs = new Map<string, Uint8Array>();
  const c = {
    blobs,
    gets: 0,
    get: async (name: string) => {
      c.gets++;
      return blobs.get(name);
    },
    put: async (name: string, bytes: Uint8Array) => {
      blobs.set(name, bytes.slice());
    },
  };
  return c;
}

function counted(src: FileSource): FileSource & { weightReads: number } {
  const s = {
    weightReads: 0,
    list: () => src.list(),
    size: (n: string) => src.size(n),
    read: (n: string, a?: number, b?: number) => {
      if (n.endsWith(".safetensors") || n.endsWith(".gguf")) s.weightReads++;
      return src.read(n, a, b);
    },
  };
  return s;
}

async function load(source: FileSource, opts: Partial<LoadOptions>): Promise<Engine> {
  const { device } = await nodeDevice();
  return Engine.load(device, source, { contextLength: 64, ...opts });
}

const same = (a: Float32Array[], b: Float32Array[]) =>
  a.length === b.length && a.every((r, i) => Buffer.from(r.buffer).equals(Buffer.from(b[i]!.buffer)));

describe("packed weights cache", () => {
  it("INT4 stories260K: the second load reads only the cache and is bit-identical (resident and streaming)", async () => {
    const cache = memoryCache();
    const first = await load(folderSource(stories), { packed: cache });
    const logits = await first.logits(ids);
    const greedy = await first.generate(ids, { maxTokens: 20, temperature: 0, ignoreEos: true });
    const budget = first.memory.fixedBytes + 3 * first.memory.perLayerBytes + 100; // 1 resident + 2 slots
    expect(first.fromPacked).toBe(false);
    first.destroy();
    expect([...cache.blobs.keys()].sort()).toEqual(
      [PACKED_META, "packed/embed", "packed/norm", ...[0, 1, 2, 3, 4].map((i) => `packed/layer.${i}`)].sort(),
    );

    for (const extra of [{}, { gpuMemoryBudget: budget }]) {
      const src = counted(folderSource(stories));
      const phases: string[] = [];
      const e = await load(src, { packed: cache, ...extra, onProgress: (p) => phases.push(p.phase) });
      try {
        expect(e.fromPacked).toBe(true);
        expect(src.weightReads).toBe(0);
        expect([...new Set(phases)]).toEqual(["read", "compile", "warmup"]);
        if ("gpuMemoryBudget" in extra) expect(e.streamStats?.streamedLayers).toBe(4);
        expect(same(await e.logits(ids), logits)).toBe(true);
        expect((await e.generate(ids, { maxTokens: 20, temperature: 0, ignoreEos: true })).ids).toEqual(
          greedy.ids,
        );
      } finally {
        e.destroy();
      }
    }
  });

  it("bounded host memory: streamed layers re-read from the packed cache each pass, still bit-identical", async () => {
    const ref = await load(folderSource(stories), {});
    const logits = await ref.logits(ids);
    const greedy = await ref.generate(ids, { maxTokens: 12, temperature: 0, ignoreEos: true });
    const m = ref.memory;
    ref.destroy();
    const budget = m.fixedBytes + 3 * m.perLayerBytes + 100; // 1 resident + 2 slots: 4 layers stream
    const cache = memoryCache();
    // first load from the checkpoint fills the cache, then bounds host memory to one layer
    for (const first of [true, false]) {
      const e = await load(folderSource(stories), {
        packed: cache,
        gpuMemoryBudget: budget,
        hostMemoryBudget: m.perLayerBytes + 100,
      });
      try {
        expect(e.fromPacked).toBe(!first);
        const s = e.streamStats!;
        expect(s.streamedLayers).toBe(4);
        expect(s.hostLayers).toBe(1);
        const before = s.hostFetches;
        expect(same(await e.logits(ids), logits)).toBe(true);
        expect((await e.generate(ids, { maxTokens: 12, temperature: 0, ignoreEos: true })).ids).toEqual(
          greedy.ids,
        );
        expect(s.hostFetches - before).toBeGreaterThan(10);
        expect(s.hostLayers).toBe(1);
      } finally {
        e.destroy();
      }
    }
    await expect(
      load(folderSource(stories), { gpuMemoryBudget: budget, hostMemoryBudget: 1 }),
    ).rejects.toThrow(/needs a packed cache/);
  });

  it("f32 storage misses an INT4 cache; a format bump, a missing meta or a bad meta reload from the checkpoint", async () => {
    const cache = memoryCache();
    (await load(folderSource(stories), { packed: cache })).destroy();
    const meta = cache.blobs.get(PACKED_META)!;
    const f32 = counted(folderSource(stories));
    const e = await load(f32, { packed: cache, quant: "f32" });
    expect(e.fromPacked).toBe(false);
    expect(f32.weightReads).toBeGreaterThan(0);
    e.destroy();
    // the f32 load wrote its own meta: an INT4 load now misses and rewrites
    for (const bad of [
      new TextEncoder().encode(
        JSON.stringify({ ...JSON.parse(new TextDecoder().decode(meta)), format: 999 }),
      ),
      new TextEncoder().encode("{not json"),
    ]) {
      cache.blobs.set(PACKED_META, bad);
      const src = counted(folderSource(stories));
      const x = await load(src, { packed: cache });
      expect(x.fromPacked).toBe(false);
      expect(src.weightReads).toBeGreaterThan(0);
      x.destroy();
    }
  });

  it("the lm_head storage is in the meta: a format-1 cache (INT4 lm_head) or another headQuant is not read", async () => {
    const cache = memoryCache();
    const int8 = await load(folderSource(stories), { packed: cache });
    const logits8 = await int8.logits(ids);
    int8.destroy();
    const meta = JSON.parse(new TextDecoder().decode(cache.blobs.get(PACKED_META)!));
    expect(meta).toMatchObject({ format: 2, quant: "int4", headQuant: "int8", head: "int8" });
    // the tied 512×64 table in INT8: 1024 blocks of 32 bytes + 512 scale words
    expect(cache.blobs.get("packed/embed")!.byteLength).toBe(1024 * 32 + 512 * 4);

    // An older cache: same groups, format 1, no head fields (its embed blob is an INT4 table).
    const { head: _h, headQuant: _q, ...old } = meta;
    cache.blobs.set(PACKED_META, new TextEncoder().encode(JSON.stringify({ ...old, format: 1 })));
    const src = counted(folderSource(stories));
    const again = await load(src, { packed: cache });
    expect(again.fromPacked).toBe(false);
    expect(src.weightReads).toBeGreaterThan(0);
    again.destroy();

    // headQuant "int4" (the old layout) misses the INT8-head cache, and writes its own.
    const int4 = await load(counted(folderSource(stories)), { packed: cache, headQuant: "int4" });
    expect(int4.fromPacked).toBe(false);
    const logits4 = await int4.logits(ids);
    int4.destroy();
    expect(same(logits4, logits8)).toBe(false);
    expect(JSON.parse(new TextDecoder().decode(cache.blobs.get(PACKED_META)!))).toMatchObject({
      headQuant: "int4",
      head: "int4",
    });
    expect(cache.blobs.get("packed/embed")!.byteLength).toBe(1024 * 16 + 512 * 4);
    const cached4 = await load(counted(folderSource(stories)), { packed: cache, headQuant: "int4" });
    expect(cached4.fromPacked).toBe(true);
    expect(same(await cached4.logits(ids), logits4)).toBe(true);
    cached4.destroy();
    const miss = await load(counted(folderSource(stories)), { packed: cache });
    expect(miss.fromPacked).toBe(false);
    expect(same(await miss.logits(ids), logits8)).toBe(true);
    miss.destroy();
  });

  it("a truncated group is a typed error, not garbage", async () => {
    const cache = memoryCache();
    (await load(folderSource(stories), { packed: cache })).destroy();
    const layer = cache.blobs.get("packed/layer.2")!;
    cache.blobs.set("packed/layer.2", layer.subarray(0, layer.byteLength - 4));
    await expect(load(folderSource(stories), { packed: cache })).rejects.toThrow(ModelFileError);
    cache.blobs.delete("packed/layer.3");
    await expect(load(folderSource(stories), { packed: cache })).rejects.toThrow(
      /lack "layer.2"|lack "layer.3"/,
    );
  });
});
