// One entry point over both checkpoint formats: picks GGUF or HF safetensors from what the source
// lists, parses the config, opens the tensors and checks them against the architecture, so a wrong
// or incomplete model fails here, after reading headers only, before any weight is downloaded.

import { loadConfig, type ModelConfig, validateTensors } from "../config.ts";
import { openGguf } from "./gguf.ts";
import { openSafetensors } from "./safetensors.ts";
import { type FileSource, requireFile } from "./source.ts";
import type { TensorSet } from "./tensor.ts";

export interface OpenModelOptions {
  /** Load this GGUF file (otherwise GGUF is used only when there is no config.json and one .gguf). */
  ggufFile?: string;
  /** Require tokenizer.json for HF checkpoints (default true; GGUF carries its tokenizer in metadata). */
  requireTokenizer?: boolean;
}

export interface OpenedModel {
  format: "safetensors" | "gguf";
  config: ModelConfig;
  tensors: TensorSet;
  /** GGUF metadata (tokenizer.ggml.*, chat template), for the tokenizer layer. */
  ggufMetadata?: Record<string, unknown>;
  /** the GGUF file, when format is "gguf" */
  ggufFile?: string;
}

export async function openModel(source: FileSource, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const names = await source.list();
  const ggufs = names.filter((n) => n.endsWith(".gguf"));
  if (options.ggufFile !== undefined || (!names.includes("config.json") && ggufs.length > 0)) {
    const g = await openGguf(source, options.ggufFile);
    validateTensors(g.config, g.tensors.tensors.values());
    return {
      format: "gguf",
      config: g.config,
      tensors: g.tensors,
      ggufMetadata: g.metadata,
      ggufFile: g.file,
    };
  }
  const config = await loadConfig(source);
  if (options.requireTokenizer !== false) await requireFile(source, "tokenizer.json", "the tokenizer");
  const tensors = await openSafetensors(source);
  validateTensors(config, tensors.tensors.values());
  return { format: "safetensors", config, tensors };
}
