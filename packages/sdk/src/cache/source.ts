// The worker's model load through the weight store: a "url" or "hf" model is downloaded into the
// store (resumable, verified) the first time and read from it afterwards. A committed entry that holds
// every named file is read with no network request at all.
import {
  type FileSource,
  hfRemoteFiles,
  type ModelStore,
  modelFiles,
  type RemoteFile,
  safetensorsShards,
  urlRemoteFiles,
  urlSource,
} from "@wisp/runtime";
import type { ModelSpec } from "../protocol.ts";
import { modelCacheId } from "./id.ts";

export interface CachedLoadOptions {
  label?: string;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; loaded: number; total: number; fraction: number }) => void;
}

const INDEX = "model.safetensors.index.json";

export interface CachedModel {
  /** Reads the stored files. */
  source: FileSource;
  /**
   * Marks the entry complete: called once the model loaded from `source`, so that a load that failed
   * (a folder without a model, an unsupported architecture) never leaves a "complete" entry that the
   * next load would trust. Its verified files stay and are not fetched again.
   */
  commit(): Promise<void>;
}

/** The stored files of `spec`, downloading what is missing first. Undefined for specs the store does not keep. */
export async function cachedModelSource(
  store: ModelStore,
  spec: ModelSpec,
  options: CachedLoadOptions = {},
): Promise<CachedModel | undefined> {
  const id = modelCacheId(spec);
  if (id === undefined || spec.kind === "files") return undefined;
  const entry = store.entry(id);
  const named = spec.kind === "url" ? [...(spec.files ?? []), ...(spec.ggufFile ? [spec.ggufFile] : [])] : [];
  if (await entry.has(named)) return { source: entry.files(), commit: async () => {} };

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
  return {
    source,
    commit: async () => {
      await entry.commit(options.label !== undefined ? { label: options.label } : {});
      // Best effort: persistent storage is not granted to workers everywhere; the page may ask too.
      await store.persist().catch(() => false);
    },
  };
}
