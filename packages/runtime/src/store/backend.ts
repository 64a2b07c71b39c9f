// What a storage backend provides: records, nothing more. Rules (verification, completeness, schema)
// live in ModelStore. A backend raises QuotaExceeded (typed) when the storage is full and otherwise
// lets errors through; it writes each record atomically (a record is either wholly there or absent).

import { QuotaExceeded } from "../errors.ts";
import type { StoreManifest } from "./types.ts";

export interface StoreBackend {
  /** "indexeddb" or "filesystem" (plus where). */
  readonly description: string;
  /**
   * Reads the schema version the records were written with; when it differs from `version` (or is
   * absent), removes every record and records `version`. Called once before any other method.
   */
  open(version: number): Promise<{ invalidated: boolean; previous?: number }>;
  getManifest(id: string): Promise<StoreManifest | undefined>;
  putManifest(manifest: StoreManifest): Promise<void>;
  listManifests(): Promise<StoreManifest[]>;
  putChunk(id: string, file: string, index: number, bytes: Uint8Array): Promise<void>;
  getChunk(id: string, file: string, index: number): Promise<Uint8Array | undefined>;
  /** Indices of the stored chunks of a file. */
  chunkIndices(id: string, file: string): Promise<number[]>;
  deleteChunks(id: string, file: string): Promise<void>;
  putBlob(id: string, name: string, bytes: Uint8Array): Promise<void>;
  getBlob(id: string, name: string): Promise<Uint8Array | undefined>;
  deleteBlob(id: string, name: string): Promise<void>;
  /** Every record of one model (manifest, chunks, blobs). */
  deleteModel(id: string): Promise<void>;
  /** Every model. */
  clear(): Promise<void>;
  /** `exact`: the quota is a real limit (free disk), not a browser's privacy-rounded report. */
  estimate(): Promise<{ usage: number; quota: number; persisted?: boolean; exact?: boolean }>;
  persist(): Promise<boolean>;
}

const MiB = 1024 * 1024;
export const formatBytes = (n: number): string =>
  n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`;

/** A write refused for lack of space → QuotaExceeded naming what was being written. */
export function quotaError(what: string, cause: unknown, extra: Record<string, string | number> = {}) {
  return new QuotaExceeded(
    `storage is full: writing ${what} was refused (${describe(cause)}); what was stored so far is kept ` +
      `for a later resume — free space or delete cached models and try again`,
    { what, ...extra },
    { cause },
  );
}

const describe = (e: unknown): string =>
  e instanceof Error ? `${e.name}: ${e.message}` : typeof e === "object" && e ? String(e) : String(e);

/** DOMException QuotaExceededError (IndexedDB), ENOSPC/EDQUOT (Node). */
export function isQuotaError(e: unknown): boolean {
  const x = e as { name?: unknown; code?: unknown } | null;
  return (
    typeof x === "object" &&
    x !== null &&
    (x.name === "QuotaExceededError" || x.code === "ENOSPC" || x.code === "EDQUOT")
  );
}
