// The Node backend: the same records as files under a root folder (default ~/.cache/wisp, or
// $WISP_CACHE_DIR). Exported from @wisp/runtime/node only (node: imports).
//   <root>/schema.json                          {"version": n}
//   <root>/models/<model>/manifest.json
//   <root>/models/<model>/chunks/<file>/<index>  one chunk per file
//   <root>/models/<model>/blobs/<name>
// <model>, <file> and <name> are percent-encoded (one path segment each, never "." or ".."); a model id
// too long for a file name is named by its SHA-256. Every write goes to a temporary file first and is
// renamed into place, so a record is either whole or absent, even after a crash.

import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, statfs, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { isQuotaError, quotaError, type StoreBackend } from "./backend.ts";
import { ModelStore } from "./store.ts";
import { STORE_SCHEMA_VERSION, type StoreManifest } from "./types.ts";

const seg = (s: string): string => encodeURIComponent(s).replaceAll(".", "%2E").replaceAll("*", "%2A");
const modelDir = (s: string): string => {
  const e = seg(s);
  return e.length <= 180 ? e : `sha256-${bytesToHex(sha256(new TextEncoder().encode(s)))}`;
};

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException | null)?.code === "ENOENT";

async function readOr<T>(p: Promise<T>, fallback: T): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (isMissing(e)) return fallback;
    throw e;
  }
}

export function defaultCacheDir(): string {
  return process.env["WISP_CACHE_DIR"] || join(homedir(), ".cache", "wisp");
}

export function fileSystemBackend(root = defaultCacheDir()): StoreBackend {
  const models = join(root, "models");
  const dirOf = (id: string) => join(models, modelDir(id));
  const chunkDir = (id: string, file: string) => join(dirOf(id), "chunks", seg(file));

  async function atomicWrite(path: string, data: Uint8Array | string, what: string): Promise<void> {
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
    try {
      await mkdir(join(path, ".."), { recursive: true });
      await writeFile(tmp, data);
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw isQuotaError(e) ? quotaError(what, e, { path }) : e;
    }
  }

  async function readBytes(path: string): Promise<Uint8Array | undefined> {
    const b = await readOr<Buffer | undefined>(readFile(path), undefined);
    return b && new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  async function du(dir: string): Promise<number> {
    let total = 0;
    const entries = await readOr(readdir(dir, { withFileTypes: true }), []);
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) total += await du(p);
      else if (e.isFile()) total += (await readOr(stat(p), undefined))?.size ?? 0;
    }
    return total;
  }

  return {
    description: `folder ${root}`,
    async open(version) {
      const path = join(root, "schema.json");
      const text = await readOr<string | undefined>(readFile(path, "utf8"), undefined);
      let previous: unknown;
      try {
        previous = text === undefined ? undefined : (JSON.parse(text) as { version?: unknown }).version;
      } catch {
        previous = "unreadable";
      }
      if (previous === version) return { invalidated: false };
      await rm(models, { recursive: true, force: true });
      await atomicWrite(path, JSON.stringify({ version }), "the schema version");
      return typeof previous === "number"
        ? { invalidated: true, previous }
        : { invalidated: previous !== undefined };
    },
    async getManifest(id) {
      const text = await readOr<string | undefined>(
        readFile(join(dirOf(id), "manifest.json"), "utf8"),
        undefined,
      );
      if (text === undefined) return undefined;
      try {
        const m = JSON.parse(text) as StoreManifest;
        return m.id === id ? m : undefined;
      } catch {
        return undefined; // never written half (atomic rename): unreadable means foreign; ignored
      }
    },
    putManifest: (m) =>
      atomicWrite(join(dirOf(m.id), "manifest.json"), JSON.stringify(m), `the manifest of "${m.id}"`),
    async listManifests() {
      const out: StoreManifest[] = [];
      for (const d of await readOr(readdir(models), [] as string[])) {
        const text = await readOr<string | undefined>(
          readFile(join(models, d, "manifest.json"), "utf8"),
          undefined,
        );
        if (text === undefined) continue;
        try {
          out.push(JSON.parse(text) as StoreManifest);
        } catch {}
      }
      return out;
    },
    putChunk: (id, file, index, bytes) =>
      atomicWrite(join(chunkDir(id, file), String(index)), bytes, `chunk ${index} of "${file}"`),
    getChunk: (id, file, index) => readBytes(join(chunkDir(id, file), String(index))),
    async chunkIndices(id, file) {
      const names = await readOr(readdir(chunkDir(id, file)), [] as string[]);
      return names.filter((n) => /^\d+$/.test(n)).map(Number);
    },
    deleteChunks: (id, file) => rm(chunkDir(id, file), { recursive: true, force: true }),
    putBlob: (id, name, bytes) => atomicWrite(join(dirOf(id), "blobs", seg(name)), bytes, `blob "${name}"`),
    getBlob: (id, name) => readBytes(join(dirOf(id), "blobs", seg(name))),
    deleteBlob: (id, name) => rm(join(dirOf(id), "blobs", seg(name)), { force: true }),
    deleteModel: (id) => rm(dirOf(id), { recursive: true, force: true }),
    clear: () => rm(models, { recursive: true, force: true }),
    async estimate() {
      const usage = await du(root);
      await mkdir(root, { recursive: true });
      const s = await statfs(root);
      return { usage, quota: usage + s.bavail * s.bsize, persisted: true, exact: true };
    },
    persist: async () => true,
  };
}

export interface OpenFileModelStoreOptions {
  /** Root folder (default $WISP_CACHE_DIR or ~/.cache/wisp). */
  root?: string;
  /** Schema version to open with (default STORE_SCHEMA_VERSION); only tests and migrations set it. */
  schemaVersion?: number;
}

/** The Node host's model store: files under a folder, the same contract as the browser's IndexedDB. */
export function openFileModelStore(options: OpenFileModelStoreOptions = {}): ModelStore {
  return new ModelStore(fileSystemBackend(options.root), options.schemaVersion ?? STORE_SCHEMA_VERSION);
}
