/** Tokenization and chat templates: the public surface of packages/runtime/src/tokenizer. */
export {
  type ChatMessage,
  type ChatTemplateOptions,
  FALLBACK_CHAT_TEMPLATE,
} from "./chat-template.ts";
export { cleanUpTokenizationSpaces } from "./cleanup.ts";
export { ChatTemplateError } from "./errors.ts";
export { type ReadFolderFile, TOKENIZER_FILE_NAMES, tokenizerFromFolderFiles } from "./folder.ts";
export {
  type GgufMetadata,
  ggufTokenizerFiles,
  ggufTokenizerMetadata,
  mergesFromScores,
  tokenizerFromGguf,
} from "./gguf.ts";
export { PRE_TOKENIZERS } from "./gguf-pre.ts";
export type { StreamDecoder } from "./stream.ts";
export {
  type DecodeOptions,
  type EncodeOptions,
  loadTokenizer,
  type Tokenizer,
  type TokenizerFiles,
} from "./tokenizer.ts";
