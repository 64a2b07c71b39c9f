// The weight store's contract on the Node file-system backend, against a real node:http server:
// range downloads in chunks, resume after a cut connection (only missing ranges fetched), retries,
// integrity (SHA-256) failures and re-fetch, ETag changes, abort, quota (estimate and a real ENOSPC
// on a 1 MiB tmpfs), schema invalidation, blobs, commit and reads.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  Aborted,
  type DownloadProgress,
  hfRemoteFiles,
  IntegrityError,
  ModelFileError,
  NetworkError,
  QuotaExceeded,
  type RemoteFile,
  STORE_SCHEMA_VERSION,
  urlRemoteFiles,
  WispError,
} from "../src/index.ts";
import { openFileModelStore } from "../src/node.ts";
import { bytesOf, StoreTestServer, sha256Hex } from "./store-server.ts";

const KiB = 1024;
const CHUNK = 64 * KiB;
const WEIGHTS = bytesOf(16 * CHUNK + 123, 7); // 17 chunks, the last one short
const CONFIG = new TextEncoder().encode(JSON.stringify({ model_type: "llama", hidden_size: 64 }));
const fast = { chunkSize: CHUNK, concurrency: 4, retryDelayMs: 1 };

const server = new StoreTestServer();
let base = "";
let root = "";
let n = 0;

beforeAll(async () => {
  base = await server.start();
});
afterAll(async () => {
  await server.close();
  if (root) rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  server.reset();
  server.setFile("/m/model.safetensors", WEIGHTS);
  server.setFile("/m/config.json", CONFIG);
  root = mkdtempSync(join(tmpdir(), `wisp-store-${n++}-`));
});

const files = (sha = true): RemoteFile[] =>
  urlRemoteFiles(
    `${base}/m/`,
    ["config.json", "model.safetensors"],
    sha ? { "model.safetensors": sha256Hex(WEIGHTS) } : {},
  );
const weightGets = () => server.requests.filter((r) => r.path === "/m/model.safetensors" && r.range);
const chunkStarts = () => weightGets().map((r) => r.range![0] / CHUNK);
/** Byte equality without vitest's element-by-element diff (seconds per MiB). */
const expectBytes = (a: Uint8Array, b: Uint8Array) =>
  expect(Buffer.compare(a, b) === 0 && a.length === b.length).toBe(true);
const caught = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("ModelStore on the file system", () => {
  it("downloads in range chunks, verifies, commits; reads stored bytes; a second download costs no request", async () => {
    const store = openFileModelStore({ root });
    const entry = store.entry("url:test-model");
    const events: DownloadProgress[] = [];
    const source = await entry.download(files(), { ...fast, onProgress: (p) => events.push(p) });
    // config.json: 1 size probe + 1 chunk; weights: 1 probe + 17 chunks.
    expect(weightGets().filter((r) => r.range![1] > 0).length).toBe(17);
    expect(new Set(chunkStarts().filter((i) => i > 0)).size).toBe(16);
    expectBytes(await source.read("model.safetensors"), WEIGHTS);
    expectBytes(
      await source.read("model.safetensors", CHUNK - 5, 3 * CHUNK + 7),
      WEIGHTS.slice(CHUNK - 5, 3 * CHUNK + 7),
    );
    expect(await source.size("config.json")).toBe(CONFIG.length);
    expect((await source.list()).sort()).toEqual(["config.json", "model.safetensors"]);
    const last = events.at(-1)!;
    expect(last.loaded).toBe(last.total);
    expect(last.total).toBe(WEIGHTS.length + CONFIG.length);
    expect(events.every((e, i) => i === 0 || e.loaded >= events[i - 1]!.loaded)).toBe(true);

    const m = await entry.manifest();
    expect(m!.files["model.safetensors"]).toMatchObject({
      complete: true,
      verified: "sha256",
      size: WEIGHTS.length,
    });
    expect(m!.files["config.json"]).toMatchObject({ complete: true, verified: "size+etag" });
    expect(m!.complete).toBe(false);
    await entry.commit({ label: "Test model", meta: { quant: "int4" } });
    const [listed] = await store.list();
    expect(listed).toMatchObject({
      id: "url:test-model",
      label: "Test model",
      complete: true,
      bytes: WEIGHTS.length + CONFIG.length,
      schema: STORE_SCHEMA_VERSION,
    });
    expect(listed!.files.sort()).toEqual(["config.json", "model.safetensors"]);

    // Another store object on the same folder (a new process): no request at all.
    server.reset();
    const again = openFileModelStore({ root }).entry("url:test-model");
    expect(await again.has(["model.safetensors", "config.json"])).toBe(true);
    const withSizes = files().map((f) => ({
      ...f,
      size: f.name === "config.json" ? CONFIG.length : WEIGHTS.length,
    }));
    const src2 = await again.download(withSizes, fast);
    expectBytes(await src2.read("model.safetensors"), WEIGHTS);
    expect(await again.files().read("config.json")).toEqual(CONFIG);
    expect(server.count()).toBe(0);
  });

  it("a connection cut mid-file: NetworkError; the resume fetches only the missing ranges", async () => {
    const store = openFileModelStore({ root });
    // Every range from chunk 9 on is cut half-way through its body.
    server.faults = [
      { kind: "drop", when: (r) => r.path === "/m/model.safetensors" && r.start >= 9 * CHUNK },
    ];
    const e = await caught(store.entry("cut").download(files(), { ...fast, retries: 2 }));
    expect(e).toBeInstanceOf(NetworkError);
    expect((e as NetworkError).code).toBe("NETWORK");
    expect((e as NetworkError).message).toMatch(/failed after 3 attempts.*connection broke/);
    expect(await store.entry("cut").has()).toBe(false);
    expect((await store.entry("cut").manifest())!.files["model.safetensors"]!.complete).toBe(false);
    const kept = (await store.backend.chunkIndices("cut", "model.safetensors")).sort((a, b) => a - b);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.every((i) => i < 9)).toBe(true);
    const stored = (await store.list())[0]!;
    expect(stored.complete).toBe(false);
    expect(stored.bytes).toBe(kept.length * CHUNK + CONFIG.length);

    server.reset(); // the network is back; a new store object (as after a restart)
    const resumed = openFileModelStore({ root }).entry("cut");
    const src = await resumed.download(files(), fast);
    const fetched = weightGets()
      .filter((r) => r.range![1] > r.range![0])
      .map((r) => r.range![0] / CHUNK)
      .sort((a, b) => a - b);
    expect(fetched).toEqual(Array.from({ length: 17 }, (_, i) => i).filter((i) => !kept.includes(i)));
    expect(server.count("/m/config.json")).toBe(0);
    expectBytes(await src.read("model.safetensors"), WEIGHTS);
  });

  it("retries transient failures (dropped bodies, 503s) with backoff and completes", async () => {
    const store = openFileModelStore({ root });
    server.faults = [
      { kind: "drop", when: (r) => r.path === "/m/model.safetensors" && r.start === 2 * CHUNK, times: 2 },
      { kind: "status", status: 503, when: (r) => r.start === 5 * CHUNK, times: 1 },
    ];
    const src = await store.entry("retry").download(files(), fast);
    expectBytes(await src.read("model.safetensors"), WEIGHTS);
    expect(chunkStarts().filter((i) => i === 2).length).toBe(3);
    expect(chunkStarts().filter((i) => i === 5).length).toBe(2);
  });

  it("a corrupted chunk: IntegrityError naming both hashes, the file's chunks dropped, the next download re-fetches it", async () => {
    const store = openFileModelStore({ root });
    server.faults = [
      { kind: "corrupt", when: (r) => r.path === "/m/model.safetensors" && r.start === 3 * CHUNK, times: 1 },
    ];
    const entry = store.entry("corrupt");
    const e = await caught(entry.download(files(), { ...fast, integrityRetries: 0 }));
    expect(e).toBeInstanceOf(IntegrityError);
    const err = e as IntegrityError;
    expect(err.code).toBe("INTEGRITY");
    expect(err.details).toMatchObject({ file: "model.safetensors", expectedSha256: sha256Hex(WEIGHTS) });
    expect(err.details!["actualSha256"]).not.toBe(sha256Hex(WEIGHTS));
    expect(err.message).toMatch(
      /failed verification: its SHA-256 is [0-9a-f]{64} but [0-9a-f]{64} was expected/,
    );
    const m = await entry.manifest();
    expect(m!.files["model.safetensors"]!.complete).toBe(false);
    expect(await store.backend.chunkIndices("corrupt", "model.safetensors")).toEqual([]);
    await expect(entry.commit()).rejects.toThrow(/not fully downloaded and verified/);
    await expect(entry.files().read("model.safetensors")).rejects.toBeInstanceOf(ModelFileError);

    server.reset();
    const src = await entry.download(files(), fast);
    expectBytes(await src.read("model.safetensors"), WEIGHTS);
    expect(new Set(chunkStarts()).size).toBe(17); // every chunk again
  });

  it("with integrityRetries (default 1) a corrupted chunk is re-fetched within the same download", async () => {
    const store = openFileModelStore({ root });
    server.faults = [
      { kind: "corrupt", when: (r) => r.start === 6 * CHUNK && r.path.endsWith(".safetensors"), times: 1 },
    ];
    const src = await store.entry("heal").download(files(), fast);
    expectBytes(await src.read("model.safetensors"), WEIGHTS);
    expect(chunkStarts().filter((i) => i === 0).length).toBe(3); // probe + first pass + second pass
  });

  it("the file changes on the server (new ETag) between sessions: old chunks dropped, the new file fetched whole", async () => {
    const store = openFileModelStore({ root });
    server.faults = [
      { kind: "drop", when: (r) => r.path === "/m/model.safetensors" && r.start >= 8 * CHUNK },
    ];
    await caught(store.entry("changed").download(files(false), { ...fast, retries: 0 }));
    const NEW = bytesOf(WEIGHTS.length, 99);
    server.reset();
    server.setFile("/m/model.safetensors", NEW);
    const src = await openFileModelStore({ root }).entry("changed").download(files(false), fast);
    expectBytes(await src.read("model.safetensors"), NEW);
    expect(new Set(chunkStarts()).size).toBe(17);
    const f = (await store.entry("changed").manifest())!.files["model.safetensors"]!;
    expect(f).toMatchObject({
      complete: true,
      verified: "size+etag",
      etag: server.files.get("/m/model.safetensors")!.etag,
    });
  });

  it("the file changes in the middle of a download: If-Range/ETag mismatch restarts it; never a mixed file", async () => {
    const store = openFileModelStore({ root });
    const NEW = bytesOf(WEIGHTS.length, 5);
    let swapped = false;
    server.faults = [
      {
        kind: "status",
        status: 503,
        times: 1,
        when: (r) => {
          if (r.path === "/m/model.safetensors" && r.start >= 4 * CHUNK && !swapped) {
            swapped = true;
            server.setFile("/m/model.safetensors", NEW);
          }
          return false;
        },
      },
    ];
    const src = await store.entry("swap").download(files(false), { ...fast, concurrency: 1 });
    expect(swapped).toBe(true);
    expectBytes(await src.read("model.safetensors"), NEW);
  });

  it("abort: Aborted, stored chunks kept, the resume fetches only the rest", async () => {
    const store = openFileModelStore({ root });
    const controller = new AbortController();
    const e = await caught(
      store.entry("abort").download(files(), {
        ...fast,
        concurrency: 1,
        onProgress: (p) => {
          if (p.file === "model.safetensors" && p.fileLoaded >= 5 * CHUNK) controller.abort();
        },
        signal: controller.signal,
      }),
    );
    expect(e).toBeInstanceOf(Aborted);
    expect((e as Aborted).code).toBe("ABORTED");
    const kept = (await store.backend.chunkIndices("abort", "model.safetensors")).sort((a, b) => a - b);
    expect(kept).toEqual([0, 1, 2, 3, 4]);
    server.reset();
    await store.entry("abort").download(files(), fast);
    expect(
      weightGets()
        .filter((r) => r.range![1] > 0)
        .map((r) => r.range![0] / CHUNK)
        .sort((a, b) => a - b),
    ).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  });

  it("a server without the file: ModelFileError (missing_file); 404 is not retried", async () => {
    const store = openFileModelStore({ root });
    const e = await caught(store.entry("missing").download(urlRemoteFiles(`${base}/m/`, ["nope.bin"]), fast));
    expect(e).toBeInstanceOf(ModelFileError);
    expect((e as ModelFileError).details).toMatchObject({ kind: "missing_file", file: "nope.bin" });
    expect(server.count("/m/nope.bin")).toBe(1);
  });

  it("quota: refused before any request when the estimate says it cannot fit", async () => {
    const store = openFileModelStore({ root });
    const free = (await store.estimate()).available;
    const huge: RemoteFile = { name: "huge.bin", url: `${base}/m/huge.bin`, size: free + 1024 ** 3 };
    const e = await caught(store.entry("huge").download([huge], fast));
    expect(e).toBeInstanceOf(QuotaExceeded);
    expect((e as QuotaExceeded).code).toBe("QUOTA_EXCEEDED");
    expect((e as QuotaExceeded).message).toMatch(
      /not enough storage for "huge": .* still to download but only .* available/,
    );
    expect((e as QuotaExceeded).details!["needed"]).toBe(huge.size);
    expect(server.count()).toBe(0);
    expect(await store.entry("huge").has()).toBe(false);
  });

  const tmpfs = join(tmpdir(), `wisp-store-enospc-${process.pid}`);
  let mounted = false;
  try {
    mkdirSync(tmpfs, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", tmpfs], { stdio: "ignore" });
    mounted = true;
  } catch {}
  afterAll(() => {
    if (mounted) execFileSync("umount", [tmpfs]);
    if (existsSync(tmpfs)) rmSync(tmpfs, { recursive: true, force: true });
  });

  it.skipIf(!mounted)(
    "quota: ENOSPC while writing → QuotaExceeded; partial chunks kept, never complete; resume elsewhere",
    async () => {
      // A real 512 KiB file system (tmpfs) holding a 1 MiB download; the estimate check is skipped so
      // that the write itself fails.
      const store = openFileModelStore({ root: tmpfs });
      const entry = store.entry("full");
      const e = await caught(entry.download(files(), { ...fast, checkQuota: false }));
      expect(e).toBeInstanceOf(QuotaExceeded);
      expect((e as QuotaExceeded).message).toMatch(
        /storage is full: writing chunk \d+ of "model.safetensors" was refused.*ENOSPC/,
      );
      const m = await entry.manifest();
      expect(m!.complete).toBe(false);
      expect(m!.files["model.safetensors"]!.complete).toBe(false);
      const kept = await store.backend.chunkIndices("full", "model.safetensors");
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(17);
      await expect(entry.commit()).rejects.toBeInstanceOf(WispError);
      // With the estimate check on, the same download is refused up front.
      server.reset();
      const e2 = await caught(entry.download(files(), fast));
      expect(e2).toBeInstanceOf(QuotaExceeded);
      expect(server.count()).toBeLessThanOrEqual(2); // only the size probes
      await store.clear();
    },
  );

  it("schema version bump: old records removed, nothing misread; the download starts over", async () => {
    await openFileModelStore({ root }).entry("v").download(files(), fast);
    await openFileModelStore({ root }).entry("v").commit();
    expect(readdirSync(join(root, "models")).length).toBe(1);
    const bumped = openFileModelStore({ root, schemaVersion: STORE_SCHEMA_VERSION + 1 });
    expect(await bumped.list()).toEqual([]);
    expect(existsSync(join(root, "models"))).toBe(false);
    expect(await bumped.entry("v").has()).toBe(false);
    await expect(bumped.entry("v").files().read("config.json")).rejects.toBeInstanceOf(ModelFileError);
    server.reset();
    await bumped.entry("v").download(files(), fast);
    expect(new Set(chunkStarts()).size).toBe(17);
    // And back: a store of the current version does not read the bumped records either.
    const current = openFileModelStore({ root });
    expect(await current.list()).toEqual([]);
  });

  it("blobs, deleteFiles, delete, clear, estimate, persist", async () => {
    const store = openFileModelStore({ root });
    const entry = store.entry("blobs");
    await entry.download(files(), fast);
    const packed = bytesOf(3000, 3);
    await entry.putBlob("int4/layer.3", packed);
    expect(await entry.getBlob("int4/layer.3")).toEqual(packed);
    expect(await entry.getBlob("int4/layer.4")).toBeUndefined();
    await entry.deleteFiles(["model.safetensors"]);
    await entry.commit({ label: "packed" });
    const [m] = await store.list();
    expect(m).toMatchObject({
      complete: true,
      files: ["config.json"],
      blobs: ["int4/layer.3"],
      bytes: CONFIG.length + 3000,
    });
    await expect(entry.files().read("model.safetensors")).rejects.toMatchObject({ name: "ModelFileError" });
    const est = await store.estimate();
    expect(est.usage).toBeGreaterThan(3000);
    expect(est.available).toBeGreaterThan(0);
    expect(await store.persist()).toBe(true);
    await store.entry("other").putBlob("x", new Uint8Array([1]));
    expect((await store.list()).length).toBe(2);
    await store.delete("blobs");
    expect((await store.list()).map((x) => x.id)).toEqual(["other"]);
    await store.clear();
    expect(await store.list()).toEqual([]);
  });

  it("Hugging Face: the tree listing's lfs.oid is the expected SHA-256; a wrong one → IntegrityError", async () => {
    const tree = (oid: string) => [
      { type: "file", path: "config.json", size: CONFIG.length, oid: "0123abcd" },
      { type: "file", path: "model.safetensors", size: WEIGHTS.length, lfs: { oid, size: WEIGHTS.length } },
      { type: "directory", path: "onnx" },
    ];
    server.trees.set("org/tiny", tree(sha256Hex(WEIGHTS)));
    server.setFile("/org/tiny/resolve/main/config.json", CONFIG);
    server.setFile("/org/tiny/resolve/main/model.safetensors", WEIGHTS);
    const remote = await hfRemoteFiles("org/tiny", { endpoint: base });
    expect(remote.map((r) => [r.name, r.size, r.sha256])).toEqual([
      ["config.json", CONFIG.length, undefined],
      ["model.safetensors", WEIGHTS.length, sha256Hex(WEIGHTS)],
    ]);
    const store = openFileModelStore({ root });
    server.reset();
    const src = await store.entry("hf:org/tiny").download(remote, fast);
    expectBytes(await src.read("model.safetensors"), WEIGHTS);
    expect(server.requests.every((r) => r.range && r.range[1] > 0)).toBe(true); // sizes known: no probes
    expect((await store.entry("hf:org/tiny").manifest())!.files["model.safetensors"]!.verified).toBe(
      "sha256",
    );

    server.trees.set("org/bad", tree("f".repeat(64)));
    server.setFile("/org/bad/resolve/main/config.json", CONFIG);
    server.setFile("/org/bad/resolve/main/model.safetensors", WEIGHTS);
    const bad = await hfRemoteFiles("org/bad", { endpoint: base });
    const e = await caught(store.entry("hf:org/bad").download(bad, fast));
    expect(e).toBeInstanceOf(IntegrityError);
    expect(await store.entry("hf:org/bad").has(["model.safetensors"])).toBe(false);
  });

  it("X-Linked-ETag (the hub's LFS sha256 header) is used when the caller gives no hash", async () => {
    server.linked.set("/m/model.safetensors", sha256Hex(bytesOf(10, 1)));
    const store = openFileModelStore({ root });
    const e = await caught(store.entry("linked").download(files(false), fast));
    expect(e).toBeInstanceOf(IntegrityError);
    server.linked.set("/m/model.safetensors", sha256Hex(WEIGHTS));
    await store.entry("linked").download(files(false), fast);
    expect((await store.entry("linked").manifest())!.files["model.safetensors"]!.verified).toBe("sha256");
  });
});
