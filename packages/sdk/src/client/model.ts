// What `createEngine({ model })` accepts, resolved to a ModelSpec on the main thread: relative URLs
// are made absolute against the page (a worker's own base URL is the worker script's).
import { InvalidRequestError } from "../errors.ts";
import type { ModelSpec } from "../protocol.ts";

/** A Hugging Face id ("org/name"), a base URL of a model folder (or a .gguf file URL), or picked files. */
export type ModelInput = string | File[] | FileList;

const HF_ID = /^[\w.-]+\/[\w.-]+$/;
const URL_LIKE = /^(?:[a-z][a-z\d+.-]*:|\/|\.\.?\/)/i;

function ggufOf(names: string[]): string | undefined {
  const gguf = names.filter((n) => n.toLowerCase().endsWith(".gguf"));
  return gguf.length === 1 ? gguf[0] : undefined;
}

export function resolveModel(model: ModelInput, base: string): { spec: ModelSpec; label: string } {
  if (typeof model !== "string") {
    const files = Array.from(model as ArrayLike<File>);
    if (files.length === 0) throw new InvalidRequestError("model: no files were given", "model");
    const gguf = ggufOf(files.map((f) => f.name));
    return {
      spec: { kind: "files", files, ...(gguf ? { ggufFile: gguf } : {}) },
      label: gguf ?? "local files",
    };
  }
  const text = model.trim();
  if (!text) throw new InvalidRequestError("model is empty", "model");
  if (!URL_LIKE.test(text) && HF_ID.test(text) && !text.includes("..")) {
    return { spec: { kind: "hf", id: text }, label: text };
  }
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new InvalidRequestError(
      `model "${text}" is neither a Hugging Face id ("org/name") nor a URL`,
      "model",
    );
  }
  if (url.pathname.toLowerCase().endsWith(".gguf")) {
    const file = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf("/") + 1));
    return { spec: { kind: "url", url: new URL(".", url).href, ggufFile: file }, label: text };
  }
  const href = url.href.endsWith("/") ? url.href : `${url.href}/`;
  return { spec: { kind: "url", url: href }, label: text };
}
