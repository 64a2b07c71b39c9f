// The weight store from the page: the worker downloads models into IndexedDB, and the page lists and
// deletes them through the same database (same origin), without a worker or a GPU.
import { hasIndexedDb, type ModelStore, openModelStore, WispError } from "@wisp/runtime";
import { type ModelInput, resolveModel } from "../client/model.ts";
import type { CachedModel, StorageEstimate } from "../protocol.ts";
import { modelCacheId } from "./id.ts";

let shared: ModelStore | undefined;
function store(): ModelStore {
  if (!hasIndexedDb()) {
    throw new WispError("this environment has no IndexedDB, so there is no model cache to read");
  }
  shared ??= openModelStore();
  return shared;
}

/** Models in the cache (newest first), with their sizes; `complete: false` for a partial download. */
export async function listCachedModels(): Promise<CachedModel[]> {
  return store().list();
}

/** Deletes one cached model by its id (as listCachedModels() reports it); unknown ids are ignored. */
export async function deleteCachedModel(id: string): Promise<void> {
  await store().delete(id);
}

/** Deletes every cached model. */
export async function clearCache(): Promise<void> {
  await store().clear();
}

/** This origin's storage use and quota (navigator.storage.estimate()) and what is left. */
export async function storageEstimate(): Promise<StorageEstimate> {
  return store().estimate();
}

/** Asks the browser to keep the cache under storage pressure (navigator.storage.persist()); true when granted. */
export async function requestPersistentStorage(): Promise<boolean> {
  return store().persist();
}

/** The id a model is cached under (what createEngine({ model }) would use), or undefined for picked files. */
export function cachedModelId(model: ModelInput): string | undefined {
  return modelCacheId(resolveModel(model, globalThis.location?.href ?? "").spec);
}
