/**
 * Byte-level BPE pre-tokenizers by llama.cpp's `tokenizer.ggml.pre` name, as the Hugging Face structures
 * (normalizer, pre_tokenizer, ignore_merges) that the tokenizer.json of the same models use. Names and
 * regexes follow llama.cpp's llama-vocab.cpp; a name not listed here is refused (tokenizer/gguf.ts).
 */
import type { JsonObject } from "./special.ts";

const split = (regex: string) => ({
  type: "Split",
  pattern: { Regex: regex },
  behavior: "Isolated",
  invert: false,
});
const byteLevel = (useRegex: boolean) => ({
  type: "ByteLevel",
  add_prefix_space: false,
  trim_offsets: false,
  use_regex: useRegex,
});

// The regexes as HF's tokenizer.json files write them (Rust regex syntax; the library translates).
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

export interface PreTokenizerSpec {
  normalizer: JsonObject | null;
  preTokenizer: JsonObject;
  /** A pre-token that is itself a vocabulary entry is kept whole (Llama 3). */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos default for this pre-tokenizer (the metadata's add_bos_token overrides). */
  addBos: boolean;
}

const LLAMA3: PreTokenizerSpec = {
  normalizer: null,
  preTokenizer: { type: "Sequence", pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] },
  ignoreMerges: true,
  addBos: true,
};
const QWEN2: PreTokenizerSpec = {
  // HF's Qwen2 tokenizer.json (and transformers' Qwen2Converter) NFC-normalizes; llama.cpp does not.
  normalizer: { type: "NFC" },
  preTokenizer: { type: "Sequence", pretokenizers: [split(QWEN2_REGEX), byteLevel(false)] },
  ignoreMerges: false,
  addBos: false,
};
const GPT2: PreTokenizerSpec = {
  normalizer: null,
  preTokenizer: byteLevel(true),
  ignoreMerges: false,
  addBos: false,
};
// Every digit its own pre-token, then GPT-2's regex (llama.cpp: "\p{N}", then the GPT-2 regex; HF's
// SmolLM2 tokenizer.json: Digits(individual) + ByteLevel(use_regex)).
const SMOLLM: PreTokenizerSpec = {
  normalizer: null,
  preTokenizer: {
    type: "Sequence",
    pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel(true)],
  },
  ignoreMerges: false,
  addBos: false,
};
// llama.cpp's "default" (also what it uses when the key is missing): four regexes applied in turn,
// each splitting the pieces of the previous one, which is what a Sequence of isolating Splits does.
const DEFAULT: PreTokenizerSpec = {
  normalizer: null,
  preTokenizer: {
    type: "Sequence",
    pretokenizers: [
      split("[\\p{P}\\$\\+<=>\\^~\\|]+"),
      split(GPT2_REGEX),
      split("\\p{N}+"),
      split("[0-9][0-9][0-9]"),
      byteLevel(false),
    ],
  },
  ignoreMerges: false,
  addBos: false,
};

/** `tokenizer.ggml.pre` → pre-tokenizer; names as llama.cpp's converter writes them (with aliases it reads). */
export const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizerSpec>> = {
  default: DEFAULT,
  "llama-bpe": LLAMA3,
  llama3: LLAMA3,
  "llama-v3": LLAMA3,
  qwen2: QWEN2,
  smollm: SMOLLM,
  "gpt-2": GPT2,
  gpt2: GPT2,
};
