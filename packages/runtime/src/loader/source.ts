// Where model files come from. Everything above this layer reads bytes through `FileSource`, so the
// same parsers serve a base URL (browser or Node fetch, Range requests), File objects picked by the
// user (browser) and a local folder (Node host only: see node-files.ts, kept out of this module so
// that no node: import reaches a browser bundle).

import { type ErrorDetails, ModelFileError } from "../errors.ts";

export interface FileSource {
  /** File names (paths relative to the model root, "/"-separated). */
  list(): Promise<string[]>;
  /** Size in bytes; ModelFileError (kind "missing_file") when the file does not exist. */
  size(name: string): Promise<number>;
  /**
   * Bytes [start, end) of a file (end exclusive, like Blob.slice; defaults: the whole file). Exactly
   * end - start bytes come back, or ModelFileError (kind "truncated") when the file is shorter.
   */
  read(name: string, start?: number, end?: number): Promise<Uint8Array>;
}

/** ModelFileError (kind "missing_file"); the message names `extra.url` when the file was fetched. */
export function missingFile(name: string, extra?: ErrorDetails): ModelFileError {
  const url = typeof extra?.["url"] === "string" ? ` (${extra["url"]})` : "";
  return new ModelFileError(`model file "${name}" not found${url}`, {
    kind: "missing_file",
    file: name,
    ...extra,
  });
}

/** Checks a [start, end) request against a known size; returns the resolved range. */
export function resolveRange(name: string, size: number, start = 0, end = size): [number, number] {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`bad byte range [${start}, ${end}) for "${name}"`);
  }
  if (end > size) {
    throw new ModelFileError(
      `"${name}" is truncated: bytes [${start}, ${end}) requested but the file has ${size} bytes`,
      { kind: "truncated", file: name, size, start, end },
    );
  }
  return [start, end];
}

/** In-memory files (tests, fixtures, data already downloaded). */
export function memorySource(files: Record<string, Uint8Array>): FileSource {
  const get = (name: string): Uint8Array => {
    const f = files[name];
    if (f === undefined) throw missingFile(name);
    return f;
  };
  return {
    list: async () => Object.keys(files),
    size: async (name) => get(name).length,
    read: async (name, start, end) => {
      const f = get(name);
      const [s, e] = resolveRange(name, f.length, start, end);
      return f.slice(s, e);
    },
  };
}

/**
 * Browser File objects (an <input type="file" multiple> or a dropped folder). A file picked inside a
 * folder is named by its webkitRelativePath without the top folder ("model/config.json" →
 * "config.json"), so a picked folder and picked files give the same names. Only File.slice is used:
 * the browser reads just the requested range from disk.
 */
export function filesSource(files: Iterable<File>): FileSource {
  const byName = new Map<string, File>();
  for (const f of files) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
    const name = rel ? rel.split("/").slice(1).join("/") || f.name : f.name;
    byName.set(name, f);
  }
  const get = (name: string): File => {
    const f = byName.get(name);
    if (f === undefined) throw missingFile(name);
    return f;
  };
  return {
    list: async () => [...byName.keys()],
    size: async (name) => get(name).size,
    read: async (name, start, end) => {
      const f = get(name);
      const [s, e] = resolveRange(name, f.size, start, end);
      return new Uint8Array(await f.slice(s, e).arrayBuffer());
    },
  };
}

/** Raises ModelFileError naming `name` unless the source lists it (checked before big downloads). */
export async function requireFile(source: FileSource, name: string, purpose?: string): Promise<void> {
  const names = await source.list();
  if (!names.includes(name)) {
    const why = purpose ? ` (needed for ${purpose})` : "";
    throw new ModelFileError(`required model file "${name}" is missing${why}`, {
      kind: "missing_file",
      file: name,
    });
  }
}

export async function readText(source: FileSource, name: string): Promise<string> {
  const bytes = await source.read(name);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new ModelFileError(`"${name}" is not valid UTF-8`, { kind: "corrupt", file: name }, { cause });
  }
}

/** Reads and parses a JSON file; invalid JSON → ModelFileError naming the file. */
export async function readJson(source: FileSource, name: string): Promise<unknown> {
  const text = await readText(source, name);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ModelFileError(
      `"${name}" is not valid JSON: ${reason}`,
      { kind: "corrupt", file: name },
      { cause },
    );
  }
}
