/**
 * Build a tokenizer from a Hugging Face model folder, whatever holds it (fetch from the Hub or a URL,
 * IndexedDB, File objects, Node fs): the caller supplies `read(name)`, which resolves to the file's text
 * or undefined when the folder has no such file.
 */
import { ModelFileError } from "../errors.ts";
import type { JsonObject } from "./special.ts";
import { loadTokenizer, type Tokenizer } from "./tokenizer.ts";

export type ReadFolderFile = (name: string) => Promise<string | undefined>;

/** The files looked up by name; only tokenizer.json is required. */
export const TOKENIZER_FILE_NAMES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "config.json",
  "generation_config.json",
  "chat_template.jinja",
] as const;

async function readJson(read: ReadFolderFile, name: string): Promise<JsonObject | undefined> {
  const text = await read(name);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as JsonObject;
  } catch (cause) {
    throw new ModelFileError(
      `${name} is not valid JSON: ${String(cause)}`,
      { kind: "corrupt", file: name },
      { cause },
    );
  }
}

export async function tokenizerFromFolderFiles(read: ReadFolderFile): Promise<Tokenizer> {
  const [tokenizerJson, tokenizerConfig, config, generationConfig, chatTemplate] = await Promise.all([
    readJson(read, "tokenizer.json"),
    readJson(read, "tokenizer_config.json"),
    readJson(read, "config.json"),
    readJson(read, "generation_config.json"),
    read("chat_template.jinja"),
  ]);
  if (tokenizerJson === undefined) {
    // Older repos with only tokenizer.model (SentencePiece protobuf) are not supported: say which file is missing.
    throw new ModelFileError(
      "tokenizer.json is missing from the model folder (tokenizer.model alone is not supported)",
      { kind: "missing_file", file: "tokenizer.json" },
    );
  }
  return loadTokenizer({ tokenizerJson, tokenizerConfig, config, generationConfig, chatTemplate });
}
