// The worker's model load through the weight store: a "url" or "hf" model is downloaded into the
// store (resumable, verified) the first time and read from it afterwards. A committed entry that holds
// every named file is read with no network request at all.
import {
  type FileSource,
  hfRemoteFiles,
  type ModelEntry,
  type ModelStore,
  modelFiles,
  type PackedCache,
  type RemoteFile,
  safetensorsShards,
  urlRemoteFiles,
  urlSource,
} from "@wisp/runtime";
import type { ModelSpec } from "../protocol.ts";
import { modelCacheId } from "./id.ts";

export interface CachedLoadOptions {
  label?: string;
  /**
   * Whether the entry's packed weights can be used by this load (storage and device as recorded).
   * An entry that kept only its packed weights and cannot use them is dropped and downloaded again.
   */
  packedUsable?: (packed: PackedCache) => Promise<boolean>;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; loaded: number; total: number; fraction: number }) => void;
}

const INDEX = "model.safetensors.index.json";

export interface CachedModel {
  /** Reads the stored files. */
  source: FileSource;
  /** The entry's packed weights (what Engine.load reads instead of the checkpoint, or fills). */
  packed: PackedCache;
  /**
   * Marks the entry complete: called once the model loaded from `source`, so that a load that failed
   * (a folder without a model, an unsupported architecture) never leaves a "complete" entry that the
   * next load would trust. Its verified files stay and are not fetched again. Then, when the packed
   * weights are complete, the checkpoint's weight files are dropped: the cache keeps the packed INT4
   * result plus config and tokenizer files.
   */
  commit(): Promise<void>;
}

/** The entry's blobs as Engine.load's packed cache. */
export const packedCacheOf = (entry: ModelEntry): PackedCache => ({
  get: (name) => entry.getBlob(name),
  put: (name, bytes) => entry.putBlob(name, bytes),
});

const isWeightFile = (name: string) => name.endsWith(".safetensors") || name.endsWith(".gguf");

/** After a successful load: mark complete and keep only the packed result, config and tokenizer. */
async function commitEntry(store: ModelStore, entry: ModelEntry, label: string | undefined): Promise<void> {
  await entry.commit(label !== undefined ? { label } : {});
  const m = await entry.manifest();
  if (m?.blobs[PACKED_META_NAME]) await entry.deleteFiles(Object.keys(m.files).filter(isWeightFile));
  // Best effort: persistent storage is not granted to workers everywhere; the page may ask too.
  await store.persist().catch(() => false);
}
const PACKED_META_NAME = "packed/meta.json";

/** The stored files of `spec`, downloading what is missing first. Undefined for specs the store does not keep. */
export async function cachedModelSource(
  store: ModelStore,
  spec: ModelSpec,
  options: CachedLoadOptions = {},
): Promise<CachedModel | undefined> {
  const id = modelCacheId(spec);
  if (id === undefined || spec.kind === "files") return undefined;
  const entry = store.entry(id);
  const packed = packedCacheOf(entry);
  const named = (
    spec.kind === "url" ? [...(spec.files ?? []), ...(spec.ggufFile ? [spec.ggufFile] : [])] : []
  ).filter((n) => !isWeightFile(n));
  if (await entry.has(named)) {
    const m = await entry.manifest();
    const hasWeights = Object.keys(m?.files ?? {}).some(isWeightFile);
    if (hasWeights || !options.packedUsable || (await options.packedUsable(packed))) {
      return { source: entry.files(), packed, commit: () => commitEntry(store, entry, options.label) };
    }
    // Only packed weights for another storage or device: start over from the network.
    await entry.delete();
  }

  const onProgress = options.onProgress;
  const download = {
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (p: { loaded: number; total: number; fraction: number }) =>
      onProgress?.({ phase: "download", loaded: p.loaded, total: p.total, fraction: p.fraction }),
  };
  let remote: RemoteFile[];
  if (spec.kind === "url") {
    const src = urlSource(spec.url, {
      ...(spec.files ? { files: spec.files } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const names = [...new Set([...(await src.list()), ...(spec.ggufFile ? [spec.ggufFile] : [])])];
    // A folder without a model (or a wrong URL): the server's 404 for config.json is the error the
    // caller sees — ModelFileError `model file "config.json" not found` with its URL — as on a load
    // without the store, not an empty entry that then reads as "not in the store".
    if (!names.includes("config.json") && !names.some((n) => n.endsWith(".gguf"))) {
      await src.size("config.json");
    }
    // Sizes come from list()'s probes (cached by urlSource): no second request per file.
    const sizes = await Promise.all(names.map((n) => src.size(n)));
    remote = urlRemoteFiles(spec.url, names).map((f, i) => ({ ...f, size: sizes[i]! }));
  } else {
    const all = await hfRemoteFiles(spec.id, {
      ...(spec.revision ? { revision: spec.revision } : {}),
      ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let names = modelFiles(all.map((f) => f.name));
    const index = all.find((f) => f.name === INDEX);
    if (index && names.includes(INDEX)) {
      // The index names the shards: stored (and verified) first, then read from the store.
      const src = await entry.download([index], download);
      names = modelFiles(
        all.map((f) => f.name),
        { shards: safetensorsShards(await src.read(INDEX)) },
      );
    }
    remote = all.filter((f) => names.includes(f.name));
  }
  const source = await entry.download(remote, download);
  return { source, packed, commit: () => commitEntry(store, entry, options.label) };
}
