// The SDK's model load through the weight store (Node: the folder backend) with stories260K served by
// a real node:http server: the first load downloads into the store, the second makes no request.
import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeDevice } from "@wisp/gpu-test/node";
import { ModelFileError } from "@wisp/runtime";
import { openFileModelStore } from "@wisp/runtime/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreTestServer } from "../../runtime/test/store-server.ts";
import { createLocalEngine } from "../src/backend/index.ts";
import { modelCacheId } from "../src/cache/id.ts";
import { cachedModelSource } from "../src/cache/source.ts";
import type { LoadProgress } from "../src/protocol.ts";

const hf = new URL("../../../../shared/models/stories260K/hf/", import.meta.url).pathname;
const FILES = [
  "config.json",
  "generation_config.json",
  "model.safetensors",
  "tokenizer.json",
  "tokenizer_config.json",
];
const server = new StoreTestServer();
let root = "";

beforeAll(async () => {
  await server.start();
  for (const f of FILES) server.setFile(`/stories/${f}`, new Uint8Array(readFileSync(hf + f)));
  root = await mkdtemp(join(tmpdir(), "wisp-sdk-cache-"));
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe("LocalWispBackend through the weight store", () => {
  it("first load downloads into the store; the second load makes no request; cache: false bypasses it", async () => {
    const { device } = await nodeDevice();
    const url = `${server.url}/stories/`;
    const greedy = { prompt: "Once upon a time", max_tokens: 8, temperature: 0 };
    const load = async (cache?: boolean, quant: "f32" | "int4" = "f32") => {
      const events: LoadProgress[] = [];
      const engine = await createLocalEngine({
        device,
        store: openFileModelStore({ root }),
        model: { kind: "url", url },
        quant,
        contextLength: 64,
        ...(cache !== undefined ? { cache } : {}),
        onProgress: (p) => events.push(p),
      });
      const text = (await engine.completions.create(greedy)).choices[0]!.text;
      await engine.unload();
      return {
        text,
        phases: [...new Set(events.map((e) => e.phase))],
        downloads: events.filter((e) => e.phase === "download"),
      };
    };

    const first = await load();
    expect(server.count("/stories/")).toBeGreaterThan(0);
    expect(first.downloads.at(-1)).toMatchObject({ fraction: 1 });
    const [cached] = await openFileModelStore({ root }).list();
    expect(cached).toMatchObject({ id: modelCacheId({ kind: "url", url }), complete: true, label: url });
    // What stays cached: the packed weights (f32 here) plus config and tokenizer; the checkpoint goes.
    expect(cached!.files.sort()).toEqual(FILES.filter((f) => !f.endsWith(".safetensors")));
    expect(cached!.blobs).toContain("packed/meta.json");
    expect(cached!.blobs).toContain("packed/layer.4");

    server.reset();
    const second = await load();
    expect(server.count()).toBe(0);
    expect(second.downloads).toEqual([]);
    expect(second.phases).toContain("read");
    expect(second.phases).not.toContain("quantize");
    expect(second.text).toBe(first.text);

    // A folder without a model: the load fails typed and nothing is cached for it.
    const missing = await createLocalEngine({
      device,
      store: openFileModelStore({ root }),
      model: { kind: "url", url: `${server.url}/nothing/` },
    }).catch((e: unknown) => e);
    expect(missing).toMatchObject({
      name: "ModelFileError",
      code: "MODEL_FILE",
      message: `model file "config.json" not found (${server.url}/nothing/config.json)`,
    });
    expect((await openFileModelStore({ root }).list()).map((m) => m.id)).toEqual([cached!.id]);

    const third = await load(false);
    expect(server.count("/stories/")).toBeGreaterThan(0);
    expect(third.text).toBe(first.text);

    // Weight streaming from the store: 1 resident layer + 2 slots on the GPU and 1 streamed layer in
    // host memory; the other streamed layers are re-read from the packed blobs every pass.
    server.reset();
    const probe = await createLocalEngine({
      device,
      store: openFileModelStore({ root }),
      model: { kind: "url", url },
      quant: "f32",
      contextLength: 64,
    });
    const mem = probe.model.memory!;
    await probe.unload();
    const streamed = await createLocalEngine({
      device,
      store: openFileModelStore({ root }),
      model: { kind: "url", url },
      quant: "f32",
      contextLength: 64,
      gpuMemoryBudget: mem.fixedBytes + 3 * mem.perLayerBytes + 100,
      hostMemoryBudget: mem.perLayerBytes + 100,
    });
    expect(streamed.model.streaming).toMatchObject({ residentLayers: 1, streamedLayers: 4, slots: 2 });
    expect((await streamed.completions.create(greedy)).choices[0]!.text).toBe(first.text);
    expect((await streamed.stats()).streaming).toMatchObject({ hostLayers: 1 });
    await streamed.unload();
    expect(server.count()).toBe(0);

    // The entry holds f32 packed weights only: an INT4 load cannot use them, so it starts over from
    // the network (checkpoint downloaded, quantized, packed as INT4), and the next INT4 load reads it.
    server.reset();
    const int4 = await load(undefined, "int4");
    expect(server.count("/stories/")).toBeGreaterThan(0);
    expect(int4.phases).toContain("quantize");
    server.reset();
    const int4Again = await load(undefined, "int4");
    expect(server.count()).toBe(0);
    expect(int4Again.phases).not.toContain("quantize");
    expect(int4Again.text).toBe(int4.text);
  });
});

describe("a URL with no model behind it", () => {
  it("fails with the server's 404 for config.json (file and URL), not as a model missing from the store", async () => {
    const store = openFileModelStore({ root: await mkdtemp(join(tmpdir(), "wisp-sdk-cache-")) });
    const url = `${server.url}/no-such-model/`;
    const e = await cachedModelSource(store, { kind: "url", url }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelFileError);
    expect(e).toMatchObject({
      message: `model file "config.json" not found (${url}config.json)`,
      details: { kind: "missing_file", file: "config.json", url: `${url}config.json` },
    });
    expect(await store.list()).toEqual([]);
  });
});
