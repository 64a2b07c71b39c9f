/**
 * The model's tokenizer: Hugging Face tokenizer.json (+ tokenizer_config.json, config.json,
 * generation_config.json), run by @huggingface/tokenizers, with the engine-facing rules added here:
 * which special tokens `encode` adds, BOS/EOS ids, streaming decode, and chat templates.
 *
 * Host-agnostic: files arrive as strings or parsed JSON (see folder.ts for reading them by name).
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { ModelFileError } from "../errors.ts";
import {
  type ChatMessage,
  type ChatTemplateOptions,
  type CompiledChatTemplate,
  compileChatTemplate,
  FALLBACK_CHAT_TEMPLATE,
  pickChatTemplate,
} from "./chat-template.ts";
import { cleanUpTokenizationSpaces } from "./cleanup.ts";
import { type JsonObject, resolveSpecialTokens } from "./special.ts";
import { createStreamDecoder, type StreamDecoder } from "./stream.ts";

export interface TokenizerFiles {
  /** tokenizer.json, as text or parsed. Required. */
  tokenizerJson: string | object;
  /** tokenizer_config.json: special-token names, add_bos_token, chat_template, clean_up_tokenization_spaces. */
  tokenizerConfig?: object | undefined;
  /** config.json: bos/eos ids when tokenizer_config.json is absent. */
  config?: object | undefined;
  /** generation_config.json: the eos ids generation stops on. */
  generationConfig?: object | undefined;
  /** chat_template.jinja: newer Hub repos keep the template here; it wins over tokenizer_config's, as in transformers. */
  chatTemplate?: string | undefined;
}

export interface EncodeOptions {
  /** Add the tokens the tokenizer adds around a text (BOS for Llama 2/3). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (<s>, <|im_end|>, …) from the text. Default false, as in transformers. */
  skipSpecialTokens?: boolean;
  /**
   * Apply transformers' clean_up_tokenization_spaces. Default: tokenizer_config.json's flag, except for BPE
   * models (all Llama-family ones), where transformers 5 ignores it.
   */
  cleanUpTokenizationSpaces?: boolean;
}

export interface Tokenizer {
  /** Number of ids the tokenizer knows (vocab + added tokens, i.e. len(tokenizer)); config.vocab_size may be padded larger. */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  /** Every id that ends a generation (generation_config, config, tokenizer_config's eos_token). */
  readonly eosIds: readonly number[];
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  readonly unkToken: string | undefined;
  /** The model's own chat template, or undefined when applyChatTemplate uses FALLBACK_CHAT_TEMPLATE. */
  readonly chatTemplate: string | undefined;
  /** Special added tokens (and tokenizer_config's named specials): text → id. */
  readonly specialTokens: ReadonlyMap<string, number>;

  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** Streaming decoder: concatenated `push` results plus `flush()` equal `decode(ids, options)`. */
  createDecoder(options?: DecodeOptions): StreamDecoder;
  /** Any token's id (vocab or added), by its exact text: "<|im_end|>", "▁Once", "Ġthe". */
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** The id of a special token by text, undefined if the text is not a special token. */
  specialTokenId(token: string): number | undefined;
  isSpecialId(id: number): boolean;
  /** Render a conversation to the prompt text (transformers' apply_chat_template(tokenize=False)). */
  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string;
  /** Render and tokenize without adding special tokens again (apply_chat_template(tokenize=True)). */
  encodeChat(messages: ChatMessage[], options?: ChatTemplateOptions): number[];
}

function parseJson(value: string | object, file: string): JsonObject {
  if (typeof value !== "string") return value as JsonObject;
  try {
    return JSON.parse(value) as JsonObject;
  } catch (cause) {
    throw new ModelFileError(
      `${file} is not valid JSON: ${String(cause)}`,
      { kind: "corrupt", file },
      { cause },
    );
  }
}

export function loadTokenizer(files: TokenizerFiles): Tokenizer {
  const json = parseJson(files.tokenizerJson, "tokenizer.json");
  if (json["model"] === null || typeof json["model"] !== "object") {
    throw new ModelFileError("tokenizer.json has no model section", {
      kind: "corrupt",
      file: "tokenizer.json",
    });
  }
  const tokenizerConfig = files.tokenizerConfig as JsonObject | undefined;
  const config = files.config as JsonObject | undefined;
  const generationConfig = files.generationConfig as JsonObject | undefined;

  // clean_up_tokenization_spaces deletes real spaces (" !" → "!"), which corrupts BPE output; transformers 5
  // ignores the flag for BPE models (measured: 5.17 on Llama 3.1, whose config sets it) and defaults it to
  // false. We follow it; the library would default to true, so we always pass our own value.
  const modelType = (json["model"] as JsonObject)["type"];
  const cleanupDefault = tokenizerConfig?.["clean_up_tokenization_spaces"] === true && modelType !== "BPE";
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(json, { ...tokenizerConfig, clean_up_tokenization_spaces: false });
  } catch (cause) {
    throw new ModelFileError(
      `tokenizer.json is not usable: ${String(cause)}`,
      { kind: "corrupt", file: "tokenizer.json" },
      { cause },
    );
  }

  const tokenToId = (token: string): number | undefined => hf.token_to_id(token);
  const idToToken = (id: number): string | undefined => hf.id_to_token(id);
  const special = resolveSpecialTokens({ tokenizerConfig, config, generationConfig }, tokenToId, idToToken);

  const specialTokens = new Map<string, number>();
  for (const [id, added] of hf.get_added_tokens_decoder())
    if (added.special) specialTokens.set(added.content, id);
  for (const token of [special.bosToken, special.eosToken, special.unkToken, special.padToken]) {
    const id = token === undefined ? undefined : tokenToId(token);
    if (token !== undefined && id !== undefined) specialTokens.set(token, id);
  }
  const specialIds = new Set(specialTokens.values());

  let vocabSize = 0;
  for (const id of hf.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);

  // Which specials `encode` adds. tokenizer.json's post_processor says it (Llama 2/3: TemplateProcessing
  // with BOS). transformers' Llama-family tokenizers rebuild that template from tokenizer_config's
  // add_bos_token/add_eos_token when those are set, so an explicit flag wins here too.
  const addBos = tokenizerConfig?.["add_bos_token"];
  const addEos = tokenizerConfig?.["add_eos_token"];
  const flagsDecide = typeof addBos === "boolean" || typeof addEos === "boolean";
  const eosTokenId = special.eosToken === undefined ? undefined : tokenToId(special.eosToken);

  const encode = (text: string, options?: EncodeOptions): number[] => {
    const addSpecial = options?.addSpecialTokens ?? true;
    if (!addSpecial || !flagsDecide) return hf.encode(text, { add_special_tokens: addSpecial }).ids;
    const ids = hf.encode(text, { add_special_tokens: false }).ids;
    if (addBos === true && special.bosId !== undefined) ids.unshift(special.bosId);
    if (addEos === true && eosTokenId !== undefined) ids.push(eosTokenId);
    return ids;
  };

  // Ids outside the vocabulary (a model whose embedding is padded past the tokenizer) decode to nothing,
  // as in the Rust tokenizers; the library would otherwise throw or print "undefined".
  const decodeRaw = (ids: readonly number[], skipSpecialTokens: boolean): string => {
    const known = ids.filter((id) => idToToken(id) !== undefined);
    if (known.length === 0) return "";
    return hf.decode(known, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  };
  const decode = (ids: readonly number[], options?: DecodeOptions): string => {
    const text = decodeRaw(ids, options?.skipSpecialTokens ?? false);
    return (options?.cleanUpTokenizationSpaces ?? cleanupDefault) ? cleanUpTokenizationSpaces(text) : text;
  };

  const modelTemplate = files.chatTemplate ?? pickChatTemplate(tokenizerConfig?.["chat_template"], false);
  const compiled = new Map<string, CompiledChatTemplate>();
  const compile = (source: string): CompiledChatTemplate => {
    let template = compiled.get(source);
    if (!template) {
      template = compileChatTemplate(source);
      compiled.set(source, template);
    }
    return template;
  };
  // The fallback gets bos_token only if encode() would add BOS itself, so its ids match a plain prompt.
  const encodeAddsBos = special.bosId !== undefined && encode("a")[0] === special.bosId;
  const fallbackVars: Record<string, unknown> = { ...special.templateVars };
  if (!encodeAddsBos) delete fallbackVars["bos_token"];

  const applyChatTemplate = (messages: ChatMessage[], options: ChatTemplateOptions = {}): string => {
    const hasTools = (options.tools?.length ?? 0) > 0;
    const source = files.chatTemplate ?? pickChatTemplate(tokenizerConfig?.["chat_template"], hasTools);
    if (source === undefined) return compile(FALLBACK_CHAT_TEMPLATE).render(messages, options, fallbackVars);
    return compile(source).render(messages, options, special.templateVars);
  };

  return {
    vocabSize,
    bosId: special.bosId,
    eosIds: special.eosIds,
    bosToken: special.bosToken,
    eosToken: special.eosToken,
    padToken: special.padToken,
    unkToken: special.unkToken,
    chatTemplate: modelTemplate,
    specialTokens,
    encode,
    decode,
    createDecoder(options?: DecodeOptions): StreamDecoder {
      const skip = options?.skipSpecialTokens ?? false;
      const cleanup = options?.cleanUpTokenizationSpaces ?? cleanupDefault;
      return createStreamDecoder((ids) => decodeRaw(ids, skip), cleanup);
    },
    tokenToId,
    idToToken,
    specialTokenId: (token) => specialTokens.get(token),
    isSpecialId: (id) => specialIds.has(id),
    applyChatTemplate,
    encodeChat: (messages, options) =>
      encode(applyChatTemplate(messages, options), { addSpecialTokens: false }),
  };
}
