// The weight store key of a model spec: the same on the page (deleteCachedModel) and in the worker.
import type { ModelSpec } from "../protocol.ts";

const HUB = "https://huggingface.co";

/**
 * "url" models: the folder's URL (or the .gguf file's URL); "hf" models: the hub id, with
 * "@revision" when not main and the endpoint in front when not huggingface.co. Picked files: none.
 */
export function modelCacheId(spec: ModelSpec): string | undefined {
  switch (spec.kind) {
    case "url":
      return spec.ggufFile ? new URL(encodeURIComponent(spec.ggufFile), spec.url).href : spec.url;
    case "hf": {
      const endpoint = spec.endpoint?.replace(/\/+$/, "");
      const rev = spec.revision && spec.revision !== "main" ? `@${spec.revision}` : "";
      return `${endpoint && endpoint !== HUB ? `${endpoint}/` : ""}${spec.id}${rev}`;
    }
    case "files":
      return undefined;
  }
}
