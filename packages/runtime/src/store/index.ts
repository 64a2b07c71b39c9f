// The weight store's browser-safe surface (the Node folder backend, store/fs.ts, is exported from
// @wisp/runtime/node only, so no node: import reaches a browser bundle).

export { formatBytes, type StoreBackend } from "./backend.ts";
export {
  DEFAULT_DB_NAME,
  hasIndexedDb,
  indexedDbBackend,
  type OpenModelStoreOptions,
  openModelStore,
} from "./idb.ts";
export * from "./remote.ts";
export { ModelEntry, ModelStore } from "./store.ts";
export * from "./types.ts";
