// Where the engine's tokenizer comes from, in order: an explicit tokenizer folder
// (LoadOptions.tokenizerSource, the CLI's --tokenizer); a GGUF checkpoint's own metadata
// (tokenizer.ggml.*, converted by tokenizer/gguf.ts); tokenizer.json beside the weights. A GGUF's
// tokenizer metadata is also kept in the packed cache, because the SDK drops the .gguf once the packed
// weights are complete and a later load from them must still have the tokenizer.
import { ModelFileError } from "../errors.ts";
import { type FileSource, readText } from "../loader/source.ts";
import type { PackedCache } from "../model/packed.ts";
import {
  type GgufMetadata,
  ggufTokenizerMetadata,
  type Tokenizer,
  tokenizerFromFolderFiles,
  tokenizerFromGguf,
} from "../tokenizer/index.ts";

/** The packed-cache blob holding a GGUF's `tokenizer.*` metadata (JSON). */
export const GGUF_TOKENIZER_BLOB = "packed/gguf-tokenizer.json";

/** tokenizer.json (+ its companion files) from a folder; undefined when the folder has none. */
export async function folderTokenizer(source: FileSource): Promise<Tokenizer | undefined> {
  const names = new Set(await source.list());
  if (!names.has("tokenizer.json")) return undefined;
  return tokenizerFromFolderFiles(async (n) => (names.has(n) ? readText(source, n) : undefined));
}

/**
 * The GGUF's own tokenizer (undefined when its metadata has none), recorded in `packed` for loads from
 * packed weights. `required` false (the logits command): a tokenizer the metadata describes but Wisp
 * cannot build is no reason to refuse the weights, so its error is dropped and no tokenizer is returned.
 */
export async function ggufTokenizer(
  metadata: GgufMetadata,
  file: string | undefined,
  packed: PackedCache | undefined,
  required: boolean,
): Promise<Tokenizer | undefined> {
  let tokenizer: Tokenizer | undefined;
  try {
    tokenizer = tokenizerFromGguf(metadata, file);
  } catch (e) {
    if (required) throw e;
    return undefined;
  }
  if (tokenizer && packed) {
    const json = JSON.stringify(ggufTokenizerMetadata(metadata));
    await packed.put(GGUF_TOKENIZER_BLOB, new TextEncoder().encode(json));
  }
  return tokenizer;
}

/** The tokenizer recorded by {@link ggufTokenizer}, if the packed cache holds one. */
export async function packedGgufTokenizer(packed: PackedCache): Promise<Tokenizer | undefined> {
  const bytes = await packed.get(GGUF_TOKENIZER_BLOB);
  if (!bytes) return undefined;
  let metadata: GgufMetadata;
  try {
    metadata = JSON.parse(new TextDecoder().decode(bytes)) as GgufMetadata;
  } catch (cause) {
    throw new ModelFileError(
      `the cached GGUF tokenizer metadata is not valid JSON: ${String(cause)}`,
      { kind: "corrupt", file: GGUF_TOKENIZER_BLOB },
      { cause },
    );
  }
  return tokenizerFromGguf(metadata, GGUF_TOKENIZER_BLOB);
}
