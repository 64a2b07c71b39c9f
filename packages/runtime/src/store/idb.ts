// The browser backend: one IndexedDB database (through idb-keyval's createStore), one object store,
// array keys so that one key range selects a model's or a file's records:
//   ["schema"]                      the schema version the records were written with
//   ["m", id]                       a model's manifest
//   ["c", id, file, index]          one chunk of a file (Uint8Array)
//   ["b", id, name]                 one blob (Uint8Array)
// Arrays sort after strings and numbers, so [..., []] is an upper bound of every longer key.
// A page and its worker share the database (same origin): the SDK's cache functions on the main thread
// read what the worker wrote.

import { createStore, promisifyRequest, type UseStore } from "idb-keyval";
import { WispError } from "../errors.ts";
import { isQuotaError, quotaError, type StoreBackend } from "./backend.ts";
import { ModelStore } from "./store.ts";
import { STORE_SCHEMA_VERSION, type StoreManifest } from "./types.ts";

export const DEFAULT_DB_NAME = "wisp-model-store";
const OBJECT_STORE = "records";

const below = (prefix: IDBValidKey[]): IDBKeyRange => IDBKeyRange.bound(prefix, [...prefix, []]);

export function indexedDbBackend(dbName = DEFAULT_DB_NAME): StoreBackend {
  if (typeof indexedDB === "undefined") {
    throw new WispError("IndexedDB is not available here; the model store needs it (or a Node folder)");
  }
  const use: UseStore = createStore(dbName, OBJECT_STORE);
  const req = <T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> =>
    use(mode, (s) => promisifyRequest(f(s)));
  /** A write, resolved when its transaction commits (so a quota failure at commit is seen). */
  const write = (what: string, f: (s: IDBObjectStore) => void): Promise<void> =>
    use("readwrite", (s) => {
      f(s);
      return promisifyRequest(s.transaction) as Promise<unknown>;
    }).then(
      () => {},
      (e: unknown) => {
        throw isQuotaError(e) ? quotaError(what, e) : e;
      },
    );

  return {
    description: `IndexedDB "${dbName}"`,
    async open(version) {
      const previous = await req<unknown>("readonly", (s) => s.get(["schema"]));
      if (previous === version) return { invalidated: false };
      await write("the schema version", (s) => {
        s.clear();
        s.put(version, ["schema"]);
      });
      return typeof previous === "number"
        ? { invalidated: true, previous }
        : { invalidated: previous !== undefined };
    },
    getManifest: (id) => req<StoreManifest | undefined>("readonly", (s) => s.get(["m", id])),
    putManifest: (m) => write(`the manifest of "${m.id}"`, (s) => s.put(m, ["m", m.id])),
    listManifests: () => req<StoreManifest[]>("readonly", (s) => s.getAll(below(["m"]))),
    putChunk: (id, file, index, bytes) =>
      write(`chunk ${index} of "${file}"`, (s) => s.put(bytes, ["c", id, file, index])),
    async getChunk(id, file, index) {
      const v = await req<unknown>("readonly", (s) => s.get(["c", id, file, index]));
      return v instanceof Uint8Array ? v : undefined;
    },
    async chunkIndices(id, file) {
      const keys = await req<IDBValidKey[]>("readonly", (s) => s.getAllKeys(below(["c", id, file])));
      return keys.map((k) => (k as [string, string, string, number])[3]);
    },
    deleteChunks: (id, file) => write(`(deleting) "${file}"`, (s) => s.delete(below(["c", id, file]))),
    putBlob: (id, name, bytes) => write(`blob "${name}"`, (s) => s.put(bytes, ["b", id, name])),
    async getBlob(id, name) {
      const v = await req<unknown>("readonly", (s) => s.get(["b", id, name]));
      return v instanceof Uint8Array ? v : undefined;
    },
    deleteBlob: (id, name) => write(`(deleting) blob "${name}"`, (s) => s.delete(["b", id, name])),
    deleteModel: (id) =>
      write(`(deleting) "${id}"`, (s) => {
        s.delete(["m", id]);
        s.delete(below(["c", id]));
        s.delete(below(["b", id]));
      }),
    clear: () =>
      write("(clearing)", (s) => {
        s.delete(below(["m"]));
        s.delete(below(["c"]));
        s.delete(below(["b"]));
      }),
    async estimate() {
      const storage = (globalThis.navigator as Navigator | undefined)?.storage;
      if (!storage?.estimate) return { usage: 0, quota: Number.POSITIVE_INFINITY };
      const e = await storage.estimate();
      const persisted = storage.persisted ? await storage.persisted().catch(() => false) : undefined;
      return {
        usage: e.usage ?? 0,
        quota: e.quota ?? Number.POSITIVE_INFINITY,
        ...(persisted !== undefined ? { persisted } : {}),
      };
    },
    async persist() {
      const storage = (globalThis.navigator as Navigator | undefined)?.storage;
      // Workers have no navigator.storage.persist(); the page may ask instead.
      if (!storage?.persist) return storage?.persisted ? storage.persisted().catch(() => false) : false;
      return storage.persist().catch(() => false);
    },
  };
}

export interface OpenModelStoreOptions {
  /** IndexedDB database name (default "wisp-model-store"). */
  dbName?: string;
  /**
   * The schema version to open with (default STORE_SCHEMA_VERSION). Records written with another
   * version are removed when the store opens. Only tests and migrations set this.
   */
  schemaVersion?: number;
}

/** The browser's model store (IndexedDB; a page and its workers see the same one). */
export function openModelStore(options: OpenModelStoreOptions = {}): ModelStore {
  return new ModelStore(
    indexedDbBackend(options.dbName ?? DEFAULT_DB_NAME),
    options.schemaVersion ?? STORE_SCHEMA_VERSION,
  );
}

/** True where IndexedDB exists (a page or a worker), i.e. where openModelStore() works. */
export const hasIndexedDb = (): boolean => typeof indexedDB !== "undefined";
