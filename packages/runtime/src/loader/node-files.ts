// FileSource over a local folder, for the Node host (CLI, tests). Imports node:fs, so it is NOT
// re-exported from the runtime's index: Node code imports it by path and passes the source in, and
// browser bundles never see a node: import.

import type { FileHandle } from "node:fs/promises";
import { open, readdir, stat } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { type FileSource, missingFile, resolveRange } from "./source.ts";

/** Every regular file under `dir` (recursively), named by its "/"-separated path relative to `dir`. */
export function folderSource(dir: string): FileSource {
  const root = resolve(dir);

  // Names come from model metadata (index.json shard names): never let one escape the folder.
  const pathOf = (name: string): string => {
    const p = resolve(root, name);
    if (p !== root && !p.startsWith(root + sep))
      throw missingFile(name, { reason: "outside the model folder" });
    return p;
  };

  const sizeOf = async (name: string): Promise<number> => {
    try {
      const s = await stat(pathOf(name));
      if (!s.isFile()) throw missingFile(name);
      return s.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw missingFile(name);
      throw e;
    }
  };

  async function walk(d: string, out: string[]): Promise<void> {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const full = join(d, ent.name);
      if (ent.isDirectory()) await walk(full, out);
      else if (ent.isFile()) out.push(relative(root, full).split(sep).join("/"));
    }
  }

  return {
    list: async () => {
      const out: string[] = [];
      await walk(root, out);
      return out.sort();
    },
    size: sizeOf,
    read: async (name, start, end) => {
      const size = await sizeOf(name);
      const [s, e] = resolveRange(name, size, start, end);
      const out = new Uint8Array(e - s);
      let fh: FileHandle | undefined;
      try {
        fh = await open(pathOf(name), "r");
        let done = 0;
        while (done < out.length) {
          const { bytesRead } = await fh.read(out, done, out.length - done, s + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        // The file shrank between stat and read.
        if (done < out.length) resolveRange(name, s + done, s, e);
      } finally {
        await fh?.close();
      }
      return out;
    },
  };
}
