// ModelStore: one interface over a backend (IndexedDB in the browser, a folder in Node). It opens the
// backend with the schema version (records of another version are removed before anything is read),
// serializes manifest updates per model, and hands out ModelEntry objects: download, read, blobs,
// commit. Every rule lives here or in download.ts, so both backends obey the same contract.

import { ModelFileError, WispError } from "../errors.ts";
import { type FileSource, missingFile, resolveRange } from "../loader/source.ts";
import type { StoreBackend } from "./backend.ts";
import { downloadFiles } from "./download.ts";
import type {
  CachedModel,
  DownloadOptions,
  RemoteFile,
  StoreEstimate,
  StoreManifest,
  StoreMetaValue,
} from "./types.ts";

export class ModelStore {
  private ready: Promise<void> | undefined;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    /** @internal */ readonly backend: StoreBackend,
    readonly schemaVersion: number,
  ) {}

  /** Where the records live ("IndexedDB …" or "folder …"). */
  get description(): string {
    return this.backend.description;
  }

  /** @internal Opens the backend once (schema check and invalidation); retried after a failure. */
  opened(): Promise<void> {
    if (!this.ready) {
      this.ready = this.backend.open(this.schemaVersion).then(() => {});
      this.ready.catch(() => {
        this.ready = undefined;
      });
    }
    return this.ready;
  }

  /** @internal The manifest, if it was written with this store's schema (anything else is ignored). */
  async manifest(id: string): Promise<StoreManifest | undefined> {
    await this.opened();
    const m = await this.backend.getManifest(id);
    return m && m.schema === this.schemaVersion && m.id === id ? m : undefined;
  }

  /** @internal Read-modify-write of one manifest, serialized per model within this store object. */
  update(id: string, f: (m: StoreManifest) => void | Promise<void>): Promise<StoreManifest> {
    const run = async () => {
      const now = Date.now();
      const m: StoreManifest = (await this.manifest(id)) ?? {
        schema: this.schemaVersion,
        id,
        complete: false,
        createdAt: now,
        updatedAt: now,
        files: {},
        blobs: {},
      };
      await f(m);
      m.updatedAt = now;
      await this.backend.putManifest(m);
      return m;
    };
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(run, run);
    const tail = next.catch(() => {});
    this.locks.set(id, tail);
    tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  /** Every stored model of this schema, with the bytes it takes. */
  async list(): Promise<CachedModel[]> {
    await this.opened();
    const out: CachedModel[] = [];
    for (const m of await this.backend.listManifests()) {
      if (m.schema !== this.schemaVersion) continue;
      let bytes = 0;
      for (const [name, f] of Object.entries(m.files)) {
        if (f.complete) {
          bytes += f.size;
          continue;
        }
        for (const i of await this.backend.chunkIndices(m.id, name)) bytes += chunkLength(f, i);
      }
      for (const b of Object.values(m.blobs)) bytes += b.bytes;
      out.push({
        id: m.id,
        ...(m.label !== undefined ? { label: m.label } : {}),
        bytes,
        complete: m.complete,
        files: Object.keys(m.files).filter((n) => m.files[n]!.complete),
        blobs: Object.keys(m.blobs),
        updatedAt: m.updatedAt,
        schema: m.schema,
      });
    }
    return out.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** Removes one model (manifest, chunks, blobs); unknown ids are ignored. */
  async delete(id: string): Promise<void> {
    await this.opened();
    await this.backend.deleteModel(id);
  }

  /** Removes every model. */
  async clear(): Promise<void> {
    await this.opened();
    await this.backend.clear();
  }

  /** Usage and room left: navigator.storage.estimate() in the browser, the folder's size and free disk in Node. */
  async estimate(): Promise<StoreEstimate> {
    const { exact: _exact, ...e } = await this.backend.estimate();
    return { ...e, available: Math.max(0, e.quota - e.usage) };
  }

  /** Asks for persistent storage (navigator.storage.persist() where it exists); true when granted. */
  persist(): Promise<boolean> {
    return this.backend.persist();
  }

  entry(id: string): ModelEntry {
    if (typeof id !== "string" || id.length === 0)
      throw new TypeError("a model id must be a non-empty string");
    return new ModelEntry(this, id);
  }
}

/** Bytes in chunk `i` of a stored file. */
export const chunkLength = (f: { size: number; chunkSize: number }, i: number): number =>
  Math.max(0, Math.min(f.chunkSize, f.size - i * f.chunkSize));

export const chunkCount = (f: { size: number; chunkSize: number }): number =>
  f.size === 0 ? 0 : Math.ceil(f.size / f.chunkSize);

/** One model in a store. Cheap to create; every method reads the current manifest. */
export class ModelEntry {
  constructor(
    private readonly store: ModelStore,
    readonly id: string,
  ) {}

  /** The manifest, or undefined when nothing is stored for this id (in this schema). */
  manifest(): Promise<StoreManifest | undefined> {
    return this.store.manifest(this.id);
  }

  /** Whether the entry is committed complete and holds every named file complete. */
  async has(files: string[] = []): Promise<boolean> {
    const m = await this.manifest();
    return m?.complete === true && files.every((n) => m.files[n]?.complete === true);
  }

  /**
   * Downloads the files into the store (range requests in chunks, in parallel, with retries; chunks
   * already stored are not fetched again; each file verified before it counts) and returns a
   * FileSource reading the stored bytes of those files. Files already complete cost no request.
   * Errors: NetworkError (after retries), IntegrityError (hash/size mismatch after re-fetching),
   * QuotaExceeded (estimate before, or a refused write: stored chunks are kept for a resume),
   * Aborted (the signal), ModelFileError (a file the server does not have).
   */
  async download(files: RemoteFile[], options: DownloadOptions = {}): Promise<FileSource> {
    await downloadFiles(this.store, this.id, files, options);
    return this.files(files.map((f) => f.name));
  }

  /**
   * A FileSource over the complete files (or only the named ones). It reads the manifest once, on
   * first use; reads of a missing or incomplete file raise ModelFileError (kind "missing_file").
   */
  files(only?: string[]): FileSource {
    const backend = this.store.backend;
    const id = this.id;
    let manifest: Promise<StoreManifest> | undefined;
    const load = () => {
      manifest ??= this.manifest().then((m) => {
        if (!m)
          throw new ModelFileError(`model "${id}" is not in the store`, { kind: "missing_file", file: id });
        return m;
      });
      manifest.catch(() => {
        manifest = undefined;
      });
      return manifest;
    };
    const fileOf = async (name: string) => {
      const f = (await load()).files[name];
      if (!f?.complete || (only && !only.includes(name))) throw missingFile(name, { model: id });
      return f;
    };
    // The last chunks read: parsers read a header, then neighbouring tensors of the same chunk.
    const recent = new Map<string, Uint8Array>();
    const chunk = async (name: string, i: number, expected: number): Promise<Uint8Array> => {
      const key = `${i}\u0000${name}`;
      const hit = recent.get(key);
      if (hit) return hit;
      const bytes = await backend.getChunk(id, name, i);
      if (!bytes || bytes.length !== expected) {
        throw new ModelFileError(
          `stored chunk ${i} of "${name}" (model "${id}") is ${bytes ? `${bytes.length} bytes instead of ${expected}` : "missing"}; delete the cached model and download it again`,
          { kind: "corrupt", file: name, model: id, chunk: i },
        );
      }
      recent.set(key, bytes);
      if (recent.size > 4) recent.delete(recent.keys().next().value!);
      return bytes;
    };
    return {
      list: async () => {
        const m = await load();
        return Object.keys(m.files).filter((n) => m.files[n]!.complete && (!only || only.includes(n)));
      },
      size: async (name) => (await fileOf(name)).size,
      read: async (name, start, end) => {
        const f = await fileOf(name);
        const [s, e] = resolveRange(name, f.size, start, end);
        const out = new Uint8Array(e - s);
        for (let i = Math.floor(s / f.chunkSize); i * f.chunkSize < e; i++) {
          const c0 = i * f.chunkSize;
          const bytes = await chunk(name, i, chunkLength(f, i));
          const from = Math.max(s, c0) - c0;
          const to = Math.min(e, c0 + bytes.length) - c0;
          out.set(bytes.subarray(from, to), c0 + from - s);
        }
        return out;
      },
    };
  }

  /** A derived artefact (e.g. packed INT4 weights named "int4/layer.3"); undefined when absent. */
  async getBlob(name: string): Promise<Uint8Array | undefined> {
    const m = await this.manifest();
    if (!m?.blobs[name]) return undefined;
    return this.store.backend.getBlob(this.id, name);
  }

  /** Stores a derived artefact (one atomic record) and records it in the manifest. */
  async putBlob(name: string, bytes: Uint8Array): Promise<void> {
    await this.store.opened();
    await this.store.backend.putBlob(this.id, name, bytes);
    await this.store.update(this.id, (m) => {
      m.blobs[name] = { bytes: bytes.length, updatedAt: Date.now() };
    });
  }

  async deleteBlob(name: string): Promise<void> {
    await this.store.update(this.id, (m) => {
      delete m.blobs[name];
    });
    await this.store.backend.deleteBlob(this.id, name);
  }

  /**
   * Marks the entry complete (label and meta recorded). Refused with WispError while a recorded file
   * is incomplete: a "complete" entry always holds verified files only.
   */
  commit(meta: { label?: string; meta?: { [key: string]: StoreMetaValue } } = {}): Promise<StoreManifest> {
    return this.store.update(this.id, (m) => {
      const partial = Object.keys(m.files).filter((n) => !m.files[n]!.complete);
      if (partial.length > 0) {
        throw new WispError(
          `model "${this.id}" cannot be marked complete: ${partial.map((n) => `"${n}"`).join(", ")} ${partial.length === 1 ? "is" : "are"} not fully downloaded and verified`,
          { model: this.id, files: partial },
        );
      }
      if (meta.label !== undefined) m.label = meta.label;
      if (meta.meta !== undefined) m.meta = meta.meta;
      m.complete = true;
    });
  }

  /** Removes files (chunks and manifest records), e.g. raw weights once their packed form is stored. */
  async deleteFiles(names: string[]): Promise<void> {
    await this.store.update(this.id, (m) => {
      for (const n of names) delete m.files[n];
    });
    for (const n of names) await this.store.backend.deleteChunks(this.id, n);
  }

  /** Removes the whole entry. */
  delete(): Promise<void> {
    return this.store.delete(this.id);
  }
}
