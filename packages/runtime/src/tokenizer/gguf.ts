/**
 * A GGUF file's own tokenizer: llama.cpp's `tokenizer.ggml.*` metadata → the Hugging Face files the
 * tokenizer layer already reads (a tokenizer.json object, tokenizer_config.json-like data and the
 * config's BOS/EOS ids), so a GGUF model tokenizes through the same @huggingface/tokenizers +
 * @huggingface/jinja path as a model folder. The structures follow transformers' GGUF converters
 * (integrations/ggml.py, convert_slow_tokenizer.py) and the tokenizer.json files HF ships for the same
 * models; where those are silent, llama.cpp's loader (llama-vocab.cpp) decides.
 *
 * - `tokenizer.ggml.model = "llama"` (SentencePiece BPE): BPE over `tokens` with merges derived from
 *   `scores` (see {@link mergesFromScores}), byte_fallback, unk fused; normalizer Prepend("▁") +
 *   Replace(" ", "▁") and decoder Replace("▁", " ") → ByteFallback → Fuse → Strip(1 leading space), as
 *   HF's Llama 2 tokenizer.json (legacy). `tokenizer.ggml.add_space_prefix = false` drops the Prepend
 *   and the Strip.
 * - `"gpt2"` (byte-level BPE): BPE over `tokens` with `tokenizer.ggml.merges`, ByteLevel decoder; the
 *   pre-tokenizer (and Llama 3's ignore_merges, Qwen2's NFC) chosen by `tokenizer.ggml.pre`
 *   (gguf-pre.ts).
 * - token_type (llama.cpp's enum): 3 control and 2 unknown → special added tokens, 4 user-defined →
 *   non-special added tokens (both matched before normalization, as llama.cpp's special-token
 *   partition does), 1 normal / 5 unused / 6 byte → plain vocabulary.
 */
import { ModelFileError, UnsupportedArchitecture } from "../errors.ts";
import { PRE_TOKENIZERS, type PreTokenizerSpec } from "./gguf-pre.ts";
import type { JsonObject } from "./special.ts";
import { loadTokenizer, type Tokenizer, type TokenizerFiles } from "./tokenizer.ts";

export type GgufMetadata = Record<string, unknown>;

const KEY = "tokenizer.ggml";

/** llama.cpp's llama_token_type. */
const TOKEN_TYPE = { unknown: 2, control: 3, userDefined: 4 } as const;

function corrupt(file: string, key: string, message: string): ModelFileError {
  return new ModelFileError(`"${file}": ${message}`, { kind: "corrupt", file, key });
}

const asInt = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isInteger(v) ? v : typeof v === "bigint" ? Number(v) : undefined;

function stringArray(meta: GgufMetadata, key: string, file: string): string[] | undefined {
  const v = meta[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string"))
    throw corrupt(file, key, `${key} is not an array of strings`);
  return v as string[];
}

/** A numeric array with one entry per token. */
function perToken(meta: GgufMetadata, key: string, n: number, file: string): number[] | undefined {
  const v = meta[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number" || typeof x === "bigint"))
    throw corrupt(file, key, `${key} is not a numeric array`);
  if (v.length !== n)
    throw corrupt(file, key, `${key} has ${v.length} entries but tokenizer.ggml.tokens has ${n}`);
  return v.map(Number);
}

/** A token id from the metadata, checked against the vocabulary; `fallback` when the key is absent. */
function tokenId(meta: GgufMetadata, name: string, n: number, file: string, fallback?: number) {
  const key = `${KEY}.${name}`;
  const raw = meta[key];
  if (raw === undefined) return fallback !== undefined && fallback < n ? fallback : undefined;
  const id = asInt(raw);
  if (id === undefined || id < 0 || id >= n)
    throw corrupt(file, key, `${key} = ${String(raw)} is not a token id of the vocabulary (${n} tokens)`);
  return id;
}

const descending = (a: number, b: number): number => (a > b ? -1 : a < b ? 1 : 0);

/**
 * SentencePiece BPE has no merge list: a piece's score is its merge priority. Like transformers' GGUF
 * converter: for every token, each split into two tokens of the vocabulary (at code points) is a merge,
 * a token's splits ordered by the left then right piece's score (highest first); then all merges ordered
 * by the merged token's score (highest first), stable. The BPE then merges, as SentencePiece does, the
 * pair whose merged token scores highest.
 */
export function mergesFromScores(tokens: readonly string[], scores: readonly number[]): [string, string][] {
  const score = new Map<string, number>(tokens.map((t, i) => [t, scores[i]!]));
  const merges: Array<{ left: string; right: string; score: number }> = [];
  tokens.forEach((token, i) => {
    const chars = Array.from(token);
    const local: Array<{ left: string; right: string; score: number }> = [];
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join("");
      const right = chars.slice(k).join("");
      if (score.has(left) && score.has(right)) local.push({ left, right, score: scores[i]! });
    }
    local.sort(
      (a, b) =>
        descending(score.get(a.left)!, score.get(b.left)!) ||
        descending(score.get(a.right)!, score.get(b.right)!),
    );
    merges.push(...local);
  });
  merges.sort((a, b) => descending(a.score, b.score));
  return merges.map((m) => [m.left, m.right]);
}

/** "Ġ t" → ["Ġ", "t"], split at the first space after the first byte (as llama.cpp reads merges). */
function parseMerges(merges: readonly string[], file: string): [string, string][] {
  return merges.map((m, i) => {
    const at = m.indexOf(" ", 1);
    if (at < 0)
      throw corrupt(file, `${KEY}.merges`, `${KEY}.merges[${i}] = ${JSON.stringify(m)} is not "left right"`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
}

/** `tokenizer.chat_template`, plus named ones (`tokenizer.chat_templates` + `tokenizer.chat_template.<name>`). */
function chatTemplate(meta: GgufMetadata): string | Array<{ name: string; template: string }> | undefined {
  const main = meta["tokenizer.chat_template"];
  const names = meta["tokenizer.chat_templates"];
  const named: Array<{ name: string; template: string }> = [];
  if (Array.isArray(names)) {
    for (const name of names) {
      const template = meta[`tokenizer.chat_template.${String(name)}`];
      if (typeof name === "string" && typeof template === "string") named.push({ name, template });
    }
  }
  if (named.length === 0) return typeof main === "string" ? main : undefined;
  return typeof main === "string" ? [{ name: "default", template: main }, ...named] : named;
}

/**
 * The tokenizer files for a GGUF's metadata; undefined when the file carries no tokenizer (no
 * `tokenizer.ggml.model`, or llama.cpp's "none"/"no_vocab"). Unsupported tokenizer models or
 * pre-tokenizers → UnsupportedArchitecture; inconsistent metadata → ModelFileError. `file` names the
 * GGUF in messages.
 */
export function ggufTokenizerFiles(meta: GgufMetadata, file = "GGUF"): TokenizerFiles | undefined {
  const model = meta[`${KEY}.model`];
  if (model === undefined || model === "none" || model === "no_vocab") return undefined;
  if (model !== "llama" && model !== "gpt2") {
    throw new UnsupportedArchitecture(
      `"${file}": GGUF tokenizer model "${String(model)}" is not supported (supported: "llama" = SentencePiece BPE, "gpt2" = byte-level BPE); give a folder with tokenizer.json instead (tokenizerSource, the CLI's --tokenizer)`,
      { feature: `${KEY}.model`, value: String(model) },
    );
  }
  const spm = model === "llama";
  const rawPre = meta[`${KEY}.pre`];
  let pre: PreTokenizerSpec | undefined;
  if (!spm) {
    const name = rawPre === undefined ? "default" : String(rawPre);
    pre = Object.hasOwn(PRE_TOKENIZERS, name) ? PRE_TOKENIZERS[name] : undefined;
    if (!pre) {
      throw new UnsupportedArchitecture(
        `"${file}": GGUF pre-tokenizer ${KEY}.pre = "${name}" is not supported (supported: ${Object.keys(PRE_TOKENIZERS).join(", ")}); give a folder with tokenizer.json instead (tokenizerSource, the CLI's --tokenizer)`,
        { feature: `${KEY}.pre`, value: name },
      );
    }
  }

  const tokens = stringArray(meta, `${KEY}.tokens`, file);
  if (!tokens || tokens.length === 0)
    throw corrupt(file, `${KEY}.tokens`, `${KEY}.tokens is missing or empty`);
  const n = tokens.length;
  const scores = perToken(meta, `${KEY}.scores`, n, file);
  const types = perToken(meta, `${KEY}.token_type`, n, file);

  // Token text → id. llama.cpp names empty tokens "[EMPTY_<id>]" and refuses duplicates (its vocabulary
  // is a map both ways); a JSON vocabulary cannot hold a duplicate either.
  const vocab: Record<string, number> = Object.create(null);
  const texts = tokens.map((t, i) => (t === "" ? `[EMPTY_${i}]` : t));
  texts.forEach((t, i) => {
    if (t in vocab)
      throw corrupt(file, `${KEY}.tokens`, `${KEY}.tokens has "${t}" twice (ids ${vocab[t]} and ${i})`);
    vocab[t] = i;
  });

  let merges: [string, string][];
  const ggufMerges = stringArray(meta, `${KEY}.merges`, file);
  if (ggufMerges) merges = parseMerges(ggufMerges, file);
  else if (spm && scores) merges = mergesFromScores(texts, scores);
  else
    throw corrupt(
      file,
      `${KEY}.${spm ? "scores" : "merges"}`,
      spm
        ? `${KEY}.scores is missing: a SentencePiece vocabulary needs scores (or ${KEY}.merges) to rank merges`
        : `${KEY}.merges is missing: a byte-level BPE vocabulary needs its merges`,
    );

  // llama.cpp's defaults: SentencePiece ids 1/2/0; BPE has none worth keeping (its 11 is GPT-2's).
  const bos = tokenId(meta, "bos_token_id", n, file, spm ? 1 : undefined);
  const eos = tokenId(meta, "eos_token_id", n, file, spm ? 2 : undefined);
  const unk = tokenId(meta, "unknown_token_id", n, file, spm ? 0 : undefined);
  const pad = tokenId(meta, "padding_token_id", n, file);
  const eot = tokenId(meta, "eot_token_id", n, file);
  const eom = tokenId(meta, "eom_token_id", n, file);

  const addedTokens: JsonObject[] = [];
  const added = (id: number, special: boolean) =>
    addedTokens.push({
      id,
      content: texts[id]!,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special,
    });
  if (types) {
    types.forEach((type, id) => {
      if (type === TOKEN_TYPE.control || type === TOKEN_TYPE.unknown) added(id, true);
      else if (type === TOKEN_TYPE.userDefined) added(id, false);
    });
  } else {
    // No types: the named specials are the special tokens (transformers does this for unk/bos/eos).
    const ids = [unk, bos, eos, eot, eom, pad].filter((id): id is number => id !== undefined);
    for (const id of [...new Set(ids)].sort((a, b) => a - b)) added(id, true);
  }

  const flag = (name: string, fallback: boolean): boolean => {
    const v = meta[`${KEY}.${name}`];
    return typeof v === "boolean" ? v : fallback;
  };
  const addBos = flag("add_bos_token", spm || pre!.addBos) && bos !== undefined;
  const addEos = flag("add_eos_token", false) && eos !== undefined;
  const prefixSpace = spm && flag("add_space_prefix", true);
  const tokenText = (id: number | undefined) => (id === undefined ? null : texts[id]!);

  const tokenizerJson: JsonObject = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: spm
      ? {
          type: "Sequence",
          normalizers: [
            ...(prefixSpace ? [{ type: "Prepend", prepend: "▁" }] : []),
            { type: "Replace", pattern: { String: " " }, content: "▁" },
          ],
        }
      : pre!.normalizer,
    pre_tokenizer: spm ? null : pre!.preTokenizer,
    post_processor: templateProcessing(addBos ? tokenText(bos) : null, addEos ? tokenText(eos) : null, vocab),
    decoder: spm
      ? {
          type: "Sequence",
          decoders: [
            { type: "Replace", pattern: { String: "▁" }, content: " " },
            { type: "ByteFallback" },
            { type: "Fuse" },
            ...(prefixSpace ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
          ],
        }
      : { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: tokenText(unk),
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: spm,
      byte_fallback: spm,
      ignore_merges: spm ? false : pre!.ignoreMerges,
      vocab,
      merges,
    },
  };

  const template = chatTemplate(meta);
  const tokenizerConfig: JsonObject = {
    bos_token: tokenText(bos),
    eos_token: tokenText(eos),
    unk_token: tokenText(unk),
    pad_token: tokenText(pad),
    add_bos_token: addBos,
    add_eos_token: addEos,
    clean_up_tokenization_spaces: false,
    ...(template !== undefined ? { chat_template: template } : {}),
  };
  // llama.cpp stops on eos and on end-of-turn/message tokens (Llama 3 instruct: <|eot_id|>, <|eom_id|>),
  // as ggufToHfConfig's eos_token_id says.
  const eosIds = [eos, eot, eom].filter((id): id is number => id !== undefined);
  const config: JsonObject = { bos_token_id: bos ?? null, eos_token_id: [...new Set(eosIds)] };
  return { tokenizerJson, tokenizerConfig, config };
}

/** HF's TemplateProcessing that puts BOS before (and EOS after) each sequence; null when it adds nothing. */
function templateProcessing(
  bos: string | null,
  eos: string | null,
  vocab: Record<string, number>,
): JsonObject | null {
  if (bos === null && eos === null) return null;
  const special = (token: string, typeId: number) => ({ SpecialToken: { id: token, type_id: typeId } });
  const sequence = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const around = (id: string, typeId: number) => [
    ...(bos !== null ? [special(bos, typeId)] : []),
    sequence(id, typeId),
    ...(eos !== null ? [special(eos, typeId)] : []),
  ];
  const specialTokens: JsonObject = {};
  for (const token of [bos, eos]) {
    if (token !== null) specialTokens[token] = { id: token, ids: [vocab[token]!], tokens: [token] };
  }
  return {
    type: "TemplateProcessing",
    single: around("A", 0),
    pair: [...around("A", 0), ...around("B", 1)],
    special_tokens: specialTokens,
  };
}

/** The GGUF's tokenizer, or undefined when the file carries none (see {@link ggufTokenizerFiles}). */
export function tokenizerFromGguf(meta: GgufMetadata, file?: string): Tokenizer | undefined {
  const files = ggufTokenizerFiles(meta, file);
  return files && loadTokenizer(files);
}

/**
 * Only the tokenizer's metadata (`tokenizer.*` keys), JSON-safe (bigints as numbers): what a cache keeps
 * to rebuild the tokenizer once the GGUF file itself is gone.
 */
export function ggufTokenizerMetadata(meta: GgufMetadata): GgufMetadata {
  const out: GgufMetadata = {};
  for (const [key, value] of Object.entries(meta)) {
    if (!key.startsWith("tokenizer.")) continue;
    out[key] =
      typeof value === "bigint"
        ? Number(value)
        : Array.isArray(value)
          ? value.map((v) => (typeof v === "bigint" ? Number(v) : v))
          : value;
  }
  return out;
}
