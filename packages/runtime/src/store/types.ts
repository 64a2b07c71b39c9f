// The weight store's data model. One manifest per model records what is stored and what is complete;
// file bytes live in fixed-size chunk records (one record per chunk, so a download resumes chunk by
// chunk), derived artefacts (packed INT4 layers, …) in blob records. A backend (IndexedDB in the
// browser, files on disk in Node) stores those records; ModelStore (store.ts) holds every rule.

/**
 * Bumped whenever the layout or the meaning of stored records changes. A store opened with another
 * version than the one its records were written with removes them all before anything is read, so an
 * old layout is never misread.
 */
export const STORE_SCHEMA_VERSION = 1;

/** Default chunk size of a download: one range request and one stored record each. */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

export interface StoredFile {
  size: number;
  /** Chunk size this file was stored with (fixed when its download starts). */
  chunkSize: number;
  /** Expected SHA-256 (hex), when the source gave one; a complete file matched it. */
  sha256?: string;
  /** The server's ETag; every chunk of the file came with it. */
  etag?: string;
  /** Where it was downloaded from (informational). */
  url?: string;
  /** True only after verification (sha256, or size + ETag consistency when no hash is known). */
  complete: boolean;
  /** How a complete file was verified. */
  verified?: "sha256" | "size+etag" | "size";
}

export interface StoredBlob {
  bytes: number;
  updatedAt: number;
}

/** JSON values (what `commit({ meta })` keeps). */
export type StoreMetaValue =
  | string
  | number
  | boolean
  | null
  | StoreMetaValue[]
  | { [key: string]: StoreMetaValue };

export interface StoreManifest {
  schema: number;
  id: string;
  label?: string;
  /** Set by commit() once every recorded file is complete; cleared when a download adds or restarts one. */
  complete: boolean;
  createdAt: number;
  updatedAt: number;
  files: Record<string, StoredFile>;
  blobs: Record<string, StoredBlob>;
  meta?: { [key: string]: StoreMetaValue };
}

/** One model as `ModelStore.list()` reports it. */
export interface CachedModel {
  id: string;
  label?: string;
  /** Bytes stored for it: file chunks (complete or not) and blobs. */
  bytes: number;
  complete: boolean;
  /** Names of the complete files. */
  files: string[];
  /** Names of the stored blobs (derived artefacts). */
  blobs: string[];
  updatedAt: number;
  schema: number;
}

export interface StoreEstimate {
  /** Bytes used by this origin (browser) or by the store's folder (Node). */
  usage: number;
  /** usage + what may still be written (browser: the origin's quota; Node: + free disk space). */
  quota: number;
  /** quota - usage. */
  available: number;
  /** Whether the browser granted persistent storage (Node: always true). */
  persisted?: boolean;
}

/** A remote file to download into the store. */
export interface RemoteFile {
  /** Name inside the model ("/"-separated), also the name its FileSource uses. */
  name: string;
  url: string;
  /** Size in bytes when known (e.g. from the Hugging Face tree); otherwise asked with a 1-byte range. */
  size?: number;
  /** Expected SHA-256 (hex); the file is complete only if its bytes hash to it. */
  sha256?: string;
}

export interface DownloadProgress {
  /** The file the last stored chunk belongs to. */
  file: string;
  fileLoaded: number;
  fileTotal: number;
  /** Over all requested files, including bytes that were already stored. */
  loaded: number;
  total: number;
  fraction: number;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Bytes per range request and per stored record (default 8 MiB). */
  chunkSize?: number;
  /** Range requests in flight at once (default 4). */
  concurrency?: number;
  /** Retries of one chunk after a network error or an HTTP 5xx/429 (default 4). */
  retries?: number;
  /** First retry delay; doubled each retry, at most 8 s (default 500 ms). */
  retryDelayMs?: number;
  /** Times a file whose bytes fail verification is dropped and fetched again before IntegrityError (default 1). */
  integrityRetries?: number;
  /** Refuse with QuotaExceeded before fetching when the storage estimate says it cannot fit (default true). */
  checkQuota?: boolean;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}
