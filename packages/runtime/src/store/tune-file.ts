// Autotuning choices in Node: one JSON file (default <cache dir>/tuning.json), read once, rewritten
// atomically (temp file + rename) after each new choice.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Int4GemvVariant } from "@wisp/kernels";
import type { TuneCache } from "../model/tuning.ts";
import { defaultCacheDir } from "./fs.ts";

export function fileTuneCache(path = join(defaultCacheDir(), "tuning.json")): TuneCache {
  let entries: Promise<Record<string, Int4GemvVariant>> | undefined;
  const load = () => {
    entries ??= readFile(path, "utf8").then(
      (text) => {
        try {
          const v = JSON.parse(text) as unknown;
          return v && typeof v === "object" ? (v as Record<string, Int4GemvVariant>) : {};
        } catch {
          return {}; // a corrupt file is re-tuned and rewritten, never fatal
        }
      },
      () => ({}),
    );
    return entries;
  };
  return {
    async get(key) {
      return (await load())[key];
    },
    async set(key, v) {
      const all = await load();
      all[key] = v;
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
      await writeFile(tmp, `${JSON.stringify(all, null, 1)}\n`);
      await rename(tmp, path);
    },
  };
}
