// FileSource over HTTP: a base URL (any static server that honours Range requests) or a Hugging Face
// model id. Only the bytes asked for are fetched: parsers read a safetensors/GGUF header first and
// then each tensor's range, so a model's metadata costs a few KB, not the whole download.

import { Aborted, ModelFileError, NetworkError } from "../errors.ts";
import { type FileSource, missingFile } from "./source.ts";

export interface UrlSourceOptions {
  /** The file names, when known (a plain HTTP server cannot list a folder). */
  files?: string[];
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Names probed by `list()` when no file list is given: what a Llama-family HF folder holds. Shards
 * named in model.safetensors.index.json are added; a GGUF file must be named through `files`.
 */
export const PROBED_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "model.safetensors",
  "model.safetensors.index.json",
];

const encodePath = (name: string): string => name.split("/").map(encodeURIComponent).join("/");

export function urlSource(baseUrl: string, options: UrlSourceOptions = {}): FileSource {
  const base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const sizes = new Map<string, number>();

  async function get(name: string, range?: string): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (range !== undefined) headers["Range"] = range;
    let res: Response;
    try {
      res = await doFetch(new URL(encodePath(name), base).href, { headers, signal: options.signal ?? null });
    } catch (cause) {
      if ((cause as { name?: unknown })?.name === "AbortError")
        throw new Aborted("download aborted", { file: name });
      throw new NetworkError(
        `fetching "${name}" from ${base} failed: ${String(cause)}`,
        { file: name },
        { cause },
      );
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      throw missingFile(name, { url: res.url || base + name });
    }
    return res;
  }

  function httpError(name: string, res: Response): NetworkError {
    res.body?.cancel().catch(() => {});
    return new NetworkError(`fetching "${name}" failed: HTTP ${res.status} ${res.statusText}`, {
      file: name,
      status: res.status,
    });
  }

  async function size(name: string): Promise<number> {
    const known = sizes.get(name);
    if (known !== undefined) return known;
    // A one-byte range request rather than HEAD: its Content-Range carries the total size, and it
    // works the same on servers and CDNs that answer HEAD differently.
    const res = await get(name, "bytes=0-0");
    let total: number | undefined;
    if (res.status === 206 || res.status === 416) {
      const m = res.headers.get("content-range")?.match(/\/\s*(\d+)\s*$/);
      if (m) total = Number(m[1]);
    } else if (res.ok) {
      const len = res.headers.get("content-length");
      if (len !== null) total = Number(len);
    } else {
      throw httpError(name, res);
    }
    await res.body?.cancel();
    if (total === undefined || !Number.isSafeInteger(total)) {
      throw new NetworkError(`server did not report the size of "${name}"`, {
        file: name,
        status: res.status,
      });
    }
    sizes.set(name, total);
    return total;
  }

  async function read(name: string, start?: number, end?: number): Promise<Uint8Array> {
    if (start === undefined && end === undefined) {
      const res = await get(name);
      if (!res.ok) throw httpError(name, res);
      const bytes = new Uint8Array(await res.arrayBuffer());
      sizes.set(name, bytes.length);
      return bytes;
    }
    const s = start ?? 0;
    const e = end ?? (await size(name));
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e) || s < 0 || e < s) {
      throw new RangeError(`bad byte range [${s}, ${e}) for "${name}"`);
    }
    if (e === s) return new Uint8Array(0);
    const res = await get(name, `bytes=${s}-${e - 1}`);
    const truncated = (have: number) =>
      new ModelFileError(
        `"${name}" is truncated: bytes [${s}, ${e}) requested but the file has ${have} bytes`,
        {
          kind: "truncated",
          file: name,
          size: have,
          start: s,
          end: e,
        },
      );
    if (res.status === 416) {
      await res.body?.cancel();
      const m = res.headers.get("content-range")?.match(/\/\s*(\d+)\s*$/);
      throw truncated(m ? Number(m[1]) : s);
    }
    if (res.status === 206) {
      const m = res.headers.get("content-range")?.match(/bytes\s+(\d+)-(\d+)\/(\d+|\*)/);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (m && Number(m[1]) !== s) throw httpError(name, res);
      if (m?.[3] !== undefined && m[3] !== "*") sizes.set(name, Number(m[3]));
      // Servers clamp a range that runs past the end: fewer bytes than asked means a short file.
      if (bytes.length < e - s) throw truncated(s + bytes.length);
      return bytes.length === e - s ? bytes : bytes.subarray(0, e - s);
    }
    if (res.ok) {
      // The server ignored Range and sent the whole file: still correct, only slower.
      const all = new Uint8Array(await res.arrayBuffer());
      sizes.set(name, all.length);
      if (all.length < e) throw truncated(all.length);
      return all.slice(s, e);
    }
    throw httpError(name, res);
  }

  async function list(): Promise<string[]> {
    if (options.files) return [...options.files];
    const found: string[] = [];
    await Promise.all(
      PROBED_FILES.map(async (name) => {
        try {
          await size(name);
          found.push(name);
        } catch (e) {
          if (!(e instanceof ModelFileError)) throw e;
        }
      }),
    );
    if (found.includes("model.safetensors.index.json")) {
      const index = JSON.parse(new TextDecoder().decode(await read("model.safetensors.index.json"))) as {
        weight_map?: Record<string, string>;
      };
      for (const shard of new Set(Object.values(index.weight_map ?? {}))) {
        if (!found.includes(shard)) found.push(shard);
      }
    }
    return PROBED_FILES.filter((n) => found.includes(n)).concat(
      found.filter((n) => !PROBED_FILES.includes(n)),
    );
  }

  return { list, size, read };
}

export interface HfSourceOptions extends Omit<UrlSourceOptions, "files"> {
  revision?: string;
  /** Hub root, "https://huggingface.co" by default (a mirror or a test server otherwise). */
  endpoint?: string;
  files?: string[];
}

const HF_ID = /^[\w.-]+(\/[\w.-]+)?$/;

/** https://huggingface.co/<id>/resolve/<revision>/ — where the hub serves a repository's files. */
export function hfResolveUrl(id: string, revision = "main", endpoint = "https://huggingface.co"): string {
  if (!HF_ID.test(id) || id.includes("..")) throw new TypeError(`not a Hugging Face model id: "${id}"`);
  return `${endpoint.replace(/\/+$/, "")}/${id}/resolve/${encodeURIComponent(revision)}/`;
}

/** The hub API listing of a repository's files (JSON array of {type, path, size}). */
export function hfTreeUrl(id: string, revision = "main", endpoint = "https://huggingface.co"): string {
  if (!HF_ID.test(id) || id.includes("..")) throw new TypeError(`not a Hugging Face model id: "${id}"`);
  return `${endpoint.replace(/\/+$/, "")}/api/models/${id}/tree/${encodeURIComponent(revision)}?recursive=true`;
}

/**
 * A Hugging Face hub repository. Files come from /resolve/ (Range requests, redirected to the CDN);
 * `list()` asks the hub API's tree listing, which also gives every size without a request per file.
 */
export function hfSource(id: string, options: HfSourceOptions = {}): FileSource {
  const { revision = "main", endpoint = "https://huggingface.co", ...rest } = options;
  const inner = urlSource(hfResolveUrl(id, revision, endpoint), rest);
  if (options.files) return inner;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  let listing: Promise<Map<string, number>> | undefined;
  const tree = () => {
    listing ??= (async () => {
      const url = hfTreeUrl(id, revision, endpoint);
      let res: Response;
      try {
        res = await doFetch(url, { headers: { ...options.headers }, signal: options.signal ?? null });
      } catch (cause) {
        throw new NetworkError(`listing ${id} failed: ${String(cause)}`, { url }, { cause });
      }
      if (res.status === 404 || res.status === 401) {
        throw new ModelFileError(`model "${id}" (revision ${revision}) not found on the hub`, {
          kind: "missing_file",
          file: id,
          status: res.status,
        });
      }
      if (!res.ok)
        throw new NetworkError(`listing ${id} failed: HTTP ${res.status}`, { url, status: res.status });
      const entries = (await res.json()) as Array<{ type?: string; path?: string; size?: number }>;
      const out = new Map<string, number>();
      for (const e of entries) {
        if (e.type === "file" && typeof e.path === "string") out.set(e.path, e.size ?? -1);
      }
      return out;
    })();
    // A failed listing (network blip) is retried on the next call instead of being cached.
    listing.catch(() => {
      listing = undefined;
    });
    return listing;
  };
  return {
    list: async () => [...(await tree()).keys()],
    size: async (name) => {
      const s = (await tree()).get(name);
      return s !== undefined && s >= 0 ? s : inner.size(name);
    },
    read: (name, start, end) => inner.read(name, start, end),
  };
}
