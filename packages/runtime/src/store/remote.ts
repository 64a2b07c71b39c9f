// Which remote files make a model, with what the source knows about them (size, SHA-256), for
// ModelEntry.download. Hugging Face: the hub API's tree listing gives every file's size and, for
// LFS files (the weights), the SHA-256 of its content (`lfs.oid`). A plain URL: names, and whatever
// hashes the caller knows.

import { ModelFileError, NetworkError } from "../errors.ts";
import { hfResolveUrl, hfTreeUrl, PROBED_FILES } from "../loader/url-source.ts";
import type { RemoteFile } from "./types.ts";

const encodePath = (name: string): string => name.split("/").map(encodeURIComponent).join("/");

/** Files under a base URL; `sha256` maps names to expected hashes where known. */
export function urlRemoteFiles(
  baseUrl: string,
  names: string[],
  sha256: Record<string, string> = {},
): RemoteFile[] {
  const base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
  return names.map((name) => ({
    name,
    url: new URL(encodePath(name), base).href,
    ...(sha256[name] ? { sha256: sha256[name] } : {}),
  }));
}

export interface HfRemoteOptions {
  revision?: string;
  endpoint?: string;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Every file of a hub repository (recursive tree listing), with sizes and LFS SHA-256s. */
export async function hfRemoteFiles(id: string, options: HfRemoteOptions = {}): Promise<RemoteFile[]> {
  const { revision = "main", endpoint = "https://huggingface.co" } = options;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const url = hfTreeUrl(id, revision, endpoint);
  let res: Response;
  try {
    res = await doFetch(url, { headers: { ...options.headers }, signal: options.signal ?? null });
  } catch (cause) {
    throw new NetworkError(`listing the files of ${id} failed: ${String(cause)}`, { url }, { cause });
  }
  if (res.status === 404 || res.status === 401) {
    throw new ModelFileError(`model "${id}" (revision ${revision}) not found on the hub`, {
      kind: "missing_file",
      file: id,
      status: res.status,
    });
  }
  if (!res.ok) {
    throw new NetworkError(`listing the files of ${id} failed: HTTP ${res.status}`, {
      url,
      status: res.status,
    });
  }
  const entries = (await res.json()) as Array<{
    type?: string;
    path?: string;
    size?: number;
    lfs?: { oid?: string; size?: number };
  }>;
  const base = hfResolveUrl(id, revision, endpoint);
  const out: RemoteFile[] = [];
  for (const e of entries) {
    if (e.type !== "file" || typeof e.path !== "string") continue;
    const size = e.lfs?.size ?? e.size;
    const oid = e.lfs?.oid?.toLowerCase();
    out.push({
      name: e.path,
      url: new URL(encodePath(e.path), base).href,
      ...(typeof size === "number" && size >= 0 ? { size } : {}),
      ...(oid && /^[0-9a-f]{64}$/.test(oid) ? { sha256: oid } : {}),
    });
  }
  return out;
}

/**
 * The files the loader reads, out of a repository listing: config, generation config, tokenizer
 * files, model.safetensors or its index and the shards it names (`shards`, once the index is read),
 * or the named GGUF file.
 */
export function modelFiles(
  names: string[],
  options: { ggufFile?: string; shards?: string[] } = {},
): string[] {
  const wanted = new Set<string>([...PROBED_FILES, ...(options.shards ?? [])]);
  if (options.ggufFile) {
    wanted.delete("model.safetensors");
    wanted.delete("model.safetensors.index.json");
    wanted.add(options.ggufFile);
  }
  return names.filter((n) => wanted.has(n));
}

/** The shard names a model.safetensors.index.json names. */
export function safetensorsShards(indexJson: Uint8Array): string[] {
  try {
    const index = JSON.parse(new TextDecoder().decode(indexJson)) as { weight_map?: Record<string, string> };
    return [...new Set(Object.values(index.weight_map ?? {}))];
  } catch (cause) {
    throw new ModelFileError(
      "model.safetensors.index.json is not valid JSON",
      { kind: "corrupt", file: "model.safetensors.index.json" },
      { cause },
    );
  }
}
