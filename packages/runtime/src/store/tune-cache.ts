// Autotuning choices in the browser: one small IndexedDB database (idb-keyval), key = adapter + GEMV
// key (model/tuning.ts), value = the chosen variant. Separate from the model store, whose schema bumps
// delete records: a choice stays valid until the kernel's tune version changes (part of the key).
import type { Int4GemvVariant } from "@wisp/kernels";
import { createStore, get, set } from "idb-keyval";
import type { TuneCache } from "../model/tuning.ts";

export function indexedDbTuneCache(dbName = "wisp-tuning"): TuneCache {
  const store = createStore(dbName, "choices");
  return {
    get: (key) => get<Int4GemvVariant>(key, store),
    set: (key, v) => set(key, v, store),
  };
}
