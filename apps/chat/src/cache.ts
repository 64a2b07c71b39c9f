// The SDK's model cache (its weight store in IndexedDB, shared with the worker): list, delete one,
// clear all, storage numbers. Thin wrappers so the UI reads one shape.
import {
  type CachedModel,
  cachedModelId,
  clearCache,
  deleteCachedModel,
  listCachedModels,
  requestPersistentStorage,
  storageEstimate,
} from "@wisp/sdk";

export type { CachedModel };

export interface StorageNumbers {
  usage?: number;
  quota?: number;
  persisted?: boolean;
}

/** Whether this browser can keep models (IndexedDB exists). */
export function cacheAvailable(): boolean {
  return typeof indexedDB !== "undefined";
}

export function listCached(): Promise<CachedModel[]> {
  return listCachedModels();
}

export function deleteCached(id: string): Promise<void> {
  return deleteCachedModel(id);
}

export function clearCached(): Promise<void> {
  return clearCache();
}

export function persistStorage(): Promise<boolean> {
  return requestPersistentStorage();
}

export async function storageNumbers(): Promise<StorageNumbers> {
  const e = await storageEstimate();
  return {
    usage: e.usage,
    quota: e.quota,
    ...(e.persisted !== undefined ? { persisted: e.persisted } : {}),
  };
}

/** Whether a cached entry is this model (the id the SDK caches `modelInput` under). */
export function cachedMatches(cached: CachedModel, modelInput: string): boolean {
  try {
    return cachedModelId(modelInput) === cached.id;
  } catch {
    return false;
  }
}
