// A GGUF's own tokenizer (tokenizer.ggml.* metadata → tokenizer.json + tokenizer_config data) against
// the HF tokenizer.json of the same model, on real files: stories260K's GGUF next to its HF folder, and
// GGUF files written here whose tokenizer metadata is taken from Llama 3.1, Qwen3 and SmolLM2's
// tokenizer.json (as llama.cpp's convert_hf_to_gguf.py writes it). Same ids, same text, same chat prompt.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { nodeDevice } from "@wisp/gpu-test/node";
import { describe, expect, it } from "vitest";
import { Engine } from "../src/engine/engine.ts";
import { GGUF_TOKENIZER_BLOB } from "../src/engine/tokenizer-source.ts";
import { ModelFileError, UnsupportedArchitecture, type WispError } from "../src/errors.ts";
import { readGgufHeader } from "../src/loader/gguf.ts";
import { folderSource } from "../src/loader/node-files.ts";
import { memorySource } from "../src/loader/source.ts";
import type { PackedCache } from "../src/model/packed.ts";
import {
  type ChatMessage,
  type GgufMetadata,
  ggufTokenizerFiles,
  type Tokenizer,
  tokenizerFromFolderFiles,
  tokenizerFromGguf,
} from "../src/tokenizer/index.ts";
import { type GgufValue, writeGguf } from "./fixtures/gguf-writer.ts";
import { STORIES_GGUF } from "./fixtures/model-files.ts";

const MODELS = new URL("../../../../shared/models/", import.meta.url);

async function readOptional(dir: string, name: string): Promise<string | undefined> {
  try {
    return await readFile(new URL(`${dir}/${name}`, MODELS), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

const loadFolder = (dir: string): Promise<Tokenizer> =>
  tokenizerFromFolderFiles((name) => readOptional(dir, name));

/** The metadata as the engine reads it: the GGUF header parsed from the file's bytes. */
async function ggufMetadata(file: Uint8Array): Promise<GgufMetadata> {
  return (await readGgufHeader(memorySource({ "t.gguf": file }), "t.gguf")).metadata;
}

const STORIES_TEXT =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One " +
  "day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, " +
  "\"Lily, let's go to the park.\" Lily was sad and didn't know what to do.";

const CORPUS = [
  "",
  "Once upon a time",
  STORIES_TEXT,
  "Hello, world! (yes?) [no] {maybe}; a:b - c/d @e #f $5 100% ~ ^ | \\ `x` <html> &amp;",
  "1 12 123 1234 12345 3.14159 -42 1,000,000 2024-06-01 0x1F",
  "don't I'll we've they're she's I'd it's DON'T I'LL",
  "  leading spaces,   runs   of    spaces, trailing  ",
  "line one\nline two\n\n\nthree newlines\r\nwindows\ttab\t\ttabs",
  "def f(x):\n\tif x:\n\t\treturn x ** 2  # comment\n    return None\n",
  "café ñ 日本語 🙂",
  "Grüße, 你好 👋 Привет! ¿Qué tal? Ça va. 👨‍👩‍👧 🇫🇷",
  "e\u0301 (e + combining acute) vs é",
  "<s> and </s> and <unk> written in the text",
];

/** Same ids (with and without special tokens) and same decoded text, for every text. */
function expectSameTokenization(gguf: Tokenizer, hf: Tokenizer, texts: readonly string[]): void {
  for (const text of texts) {
    const ids = hf.encode(text);
    expect(gguf.encode(text), JSON.stringify(text)).toEqual(ids);
    expect(gguf.encode(text, { addSpecialTokens: false }), JSON.stringify(text)).toEqual(
      hf.encode(text, { addSpecialTokens: false }),
    );
    expect(gguf.decode(ids), JSON.stringify(text)).toBe(hf.decode(ids));
    expect(gguf.decode(ids, { skipSpecialTokens: true }), JSON.stringify(text)).toBe(
      hf.decode(ids, { skipSpecialTokens: true }),
    );
  }
}

describe("stories260K: the GGUF's SentencePiece metadata gives the HF tokenizer", async () => {
  const hf = await loadFolder("stories260K/hf");
  const header = await readGgufHeader(folderSource(dirname(STORIES_GGUF)), basename(STORIES_GGUF));
  const gguf = tokenizerFromGguf(header.metadata)!;

  it("same ids (BOS first) and same decoded text on a varied corpus", () => {
    expect(gguf).toBeDefined();
    expect(gguf.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
    expectSameTokenization(gguf, hf, CORPUS);
  });

  it("non-ASCII goes through byte fallback and decodes back exactly", () => {
    const text = "café ñ 日本語 🙂";
    const ids = gguf.encode(text, { addSpecialTokens: false });
    expect(ids.map((id) => gguf.idToToken(id))).toContain("<0xF0>");
    expect(gguf.decode(ids)).toBe(text);
  });

  it("same special tokens, vocabulary and streaming text", () => {
    expect(gguf.vocabSize).toBe(hf.vocabSize);
    expect([gguf.bosId, gguf.bosToken, gguf.eosToken, gguf.unkToken]).toEqual([1, "<s>", "</s>", "<unk>"]);
    expect(gguf.eosIds).toEqual(hf.eosIds);
    expect([...gguf.specialTokens]).toEqual([...hf.specialTokens]);
    expect(gguf.chatTemplate).toBeUndefined();
    const ids = hf.encode(STORIES_TEXT);
    const decoder = gguf.createDecoder({ skipSpecialTokens: true });
    const text = ids.map((id) => decoder.push(id)).join("") + decoder.flush();
    expect(text).toBe(hf.decode(ids, { skipSpecialTokens: true }));
    // Same fallback chat prompt (BOS included, as encode adds it).
    const messages: ChatMessage[] = [{ role: "user", content: "Tell me a story." }];
    expect(gguf.applyChatTemplate(messages)).toBe(hf.applyChatTemplate(messages));
    expect(gguf.encodeChat(messages)).toEqual(hf.encodeChat(messages));
  });
});

// --- byte-level BPE ("gpt2") from real tokenizer.json files --------------------------------------

const asJson = (text: string | undefined): Record<string, unknown> =>
  text === undefined ? {} : (JSON.parse(text) as Record<string, unknown>);

/**
 * A GGUF holding the tokenizer of an HF folder the way convert_hf_to_gguf.py writes it: every id's text
 * in id order ("[PAD<id>]" for holes, type 5), type 3 for special added tokens and 4 for the others,
 * merges as "left right", BOS/EOS/PAD ids from tokenizer_config.json's names (else config.json's ids),
 * add_bos_token, and the chat template.
 */
async function ggufFromFolder(
  dir: string,
  pre: string,
  extra: Record<string, GgufValue> = {},
): Promise<Uint8Array> {
  const json = asJson(await readOptional(dir, "tokenizer.json")) as {
    model: { vocab: Record<string, number>; merges: Array<string | [string, string]> };
    added_tokens: Array<{ id: number; content: string; special: boolean }>;
  };
  const tc = asJson(await readOptional(dir, "tokenizer_config.json"));
  const config = asJson(await readOptional(dir, "config.json"));
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [text, id] of Object.entries(json.model.vocab)) {
    tokens[id] = text;
    types[id] = 1;
  }
  for (const a of json.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = 5;
    }
  }
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  const specialId = (name: string): number | undefined => {
    if (name in tc) {
      const v = tc[name];
      const text = typeof v === "string" ? v : (v as { content?: string } | null)?.content;
      return text === undefined ? undefined : idOf.get(text);
    }
    const id = config[`${name}_id`];
    return typeof id === "number" ? id : undefined;
  };
  const meta: Record<string, GgufValue> = {
    "general.architecture": { str: "llama" },
    "tokenizer.ggml.model": { str: "gpt2" },
    "tokenizer.ggml.pre": { str: pre },
    "tokenizer.ggml.tokens": { strs: tokens },
    "tokenizer.ggml.token_type": { i32s: types },
    "tokenizer.ggml.merges": { strs: json.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m)) },
  };
  for (const [name, key] of [
    ["bos_token", "bos_token_id"],
    ["eos_token", "eos_token_id"],
    ["pad_token", "padding_token_id"],
  ] as const) {
    const id = specialId(name);
    if (id !== undefined) meta[`tokenizer.ggml.${key}`] = { u32: id };
  }
  if (typeof tc["add_bos_token"] === "boolean")
    meta["tokenizer.ggml.add_bos_token"] = { bool: tc["add_bos_token"] };
  if (typeof tc["chat_template"] === "string") meta["tokenizer.chat_template"] = { str: tc["chat_template"] };
  return writeGguf({ ...meta, ...extra }, []);
}

const BPE_CORPUS = [
  ...CORPUS,
  "The year 2024 had 366 days; 1234567 ÷ 89 = 13871.539…",
  "don't I'll you're we'd they've it's O'Neil's rock'n'roll",
  'for (let i = 0; i < n; i++) {\n\tif (a[i] !== b[i]) return false;\n}\n\n\tconst   x =  "tab\\t";',
  "multiple     spaces\t\t\ttabs\n\n\n\nnewlines   \n  mixed \t \n",
  "<|im_start|>user\nHi<|im_end|>\n<|begin_of_text|><|eot_id|> <think>hmm</think> <|endoftext|>",
  "naïve résumé façade — “quotes” ‘single’ «guillemets» 한국어 العربية हिन्दी",
];

const MESSAGES: ChatMessage[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "What is 12 + 30?" },
  { role: "assistant", content: "It is 42." },
  { role: "user", content: "Thanks! Now in words, please." },
];

describe("byte-level BPE GGUFs built from real tokenizer.json files", () => {
  // gguf-py writes add_bos_token for Llama 3 (its post-processor adds BOS); Qwen3 GGUFs carry BOS id
  // 151643 (config.json's) although tokenizer_config.json says add_bos_token false.
  const cases = [
    {
      name: "Llama 3.1 (llama-bpe)",
      dir: "tokenizers/llama3_1",
      pre: "llama-bpe",
      extra: { "tokenizer.ggml.add_bos_token": { bool: true } },
    },
    {
      name: "Qwen3 (qwen2)",
      dir: "tokenizers/qwen3",
      pre: "qwen2",
      extra: { "tokenizer.ggml.bos_token_id": { u32: 151643 } },
    },
    { name: "SmolLM2 (smollm)", dir: "tokenizers/smollm2-135m-instruct", pre: "smollm", extra: {} },
  ] as const;
  // Writing and parsing Llama 3's 280K merges takes seconds: each case's metadata is made once.
  const metadata = new Map<string, Promise<GgufMetadata>>();
  const metaOf = (c: (typeof cases)[number]): Promise<GgufMetadata> => {
    let m = metadata.get(c.dir);
    if (!m) {
      m = ggufFromFolder(c.dir, c.pre, c.extra).then(ggufMetadata);
      metadata.set(c.dir, m);
    }
    return m;
  };

  for (const c of cases) {
    it(`${c.name}: same ids, text and chat prompt as tokenizer.json`, async () => {
      const hf = await loadFolder(c.dir);
      const meta = await metaOf(c);
      const gguf = tokenizerFromGguf(meta, `${c.name}.gguf`)!;
      expectSameTokenization(gguf, hf, BPE_CORPUS);
      expect(gguf.vocabSize).toBe(hf.vocabSize);
      expect(gguf.eosIds).toEqual(hf.eosIds);
      expect(gguf.eosToken).toBe(hf.eosToken);
      expect([...gguf.specialTokens].filter(([t]) => t !== gguf.bosToken)).toEqual(
        [...hf.specialTokens].filter(([t]) => t !== gguf.bosToken),
      );
      expect(gguf.chatTemplate).toBe(hf.chatTemplate);
      for (const addGenerationPrompt of [true, false]) {
        const options = { addGenerationPrompt, extra: { enable_thinking: false } };
        expect(gguf.applyChatTemplate(MESSAGES, options)).toBe(hf.applyChatTemplate(MESSAGES, options));
        expect(gguf.encodeChat(MESSAGES, options)).toEqual(hf.encodeChat(MESSAGES, options));
      }
      // A streamed decode of mixed text gives the same string as decode.
      const ids = hf.encode(BPE_CORPUS.join(" "));
      const decoder = gguf.createDecoder();
      expect(ids.map((id) => decoder.push(id)).join("") + decoder.flush()).toBe(hf.decode(ids));
    });
  }

  it("Llama 3 adds BOS; Qwen3 has a BOS id but does not add it (add_bos_token false)", async () => {
    const { "tokenizer.ggml.add_bos_token": _, ...withoutFlag } = await metaOf(cases[0]);
    const llama = tokenizerFromGguf(withoutFlag)!;
    expect(llama.encode("Hi")[0]).toBe(128000); // llama-bpe's default is add_bos, as in llama.cpp
    const qwen = tokenizerFromGguf(await metaOf(cases[1]))!;
    expect(qwen.bosId).toBe(151643);
    expect(qwen.encode("Hi")).toEqual(qwen.encode("Hi", { addSpecialTokens: false }));
  });

  it('"default" and "gpt2" pre-tokenizers split as llama.cpp\'s regexes do', async () => {
    const meta = await metaOf(cases[0]);
    const pieces = (pre: string | undefined, text: string) => {
      const m = { ...meta, "tokenizer.ggml.pre": pre };
      if (pre === undefined) delete m["tokenizer.ggml.pre"];
      const tok = tokenizerFromGguf(m)!;
      return tok.encode(text, { addSpecialTokens: false }).map((id) => tok.idToToken(id));
    };
    // default: punctuation runs split off first (so " !!" loses its space), then GPT-2's regex, then
    // digit runs cut into threes from the left.
    expect(pieces("default", "a !! x1234")).toEqual(["a", "Ġ", "!!", "Ġx", "123", "4"]);
    expect(pieces(undefined, "a !! x1234")).toEqual(pieces("default", "a !! x1234"));
    // GPT-2: " !!" stays one pre-token; digit runs stay whole.
    expect(pieces("gpt2", "a !! x1234").slice(0, 3)).toEqual(["a", "Ġ!!", "Ġx"]);
    expect(pieces("gpt-2", "I'll 2024")).toEqual(pieces("gpt2", "I'll 2024"));
  });
});

// --- bad metadata, and the engine's wiring -----------------------------------------------------

const STORIES_BYTES = new Uint8Array(readFileSync(STORIES_GGUF));

/**
 * stories260K's GGUF rewritten with metadata changes (undefined deletes a key): the same F32 tensors,
 * every metadata value written back with its type (integers u32, other numbers f32, token_type i32).
 */
async function storiesGguf(changes: Record<string, GgufValue | undefined>): Promise<Uint8Array> {
  const header = await readGgufHeader(memorySource({ "s.gguf": STORIES_BYTES }), "s.gguf");
  const meta: Record<string, GgufValue> = {};
  for (const [key, v] of Object.entries(header.metadata)) {
    if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
    if (typeof v === "string") meta[key] = { str: v };
    else if (typeof v === "boolean") meta[key] = { bool: v };
    else if (typeof v === "number") meta[key] = Number.isInteger(v) ? { u32: v } : { f32: v };
    else if (Array.isArray(v) && v.every((x) => typeof x === "string")) meta[key] = { strs: v };
    else if (Array.isArray(v)) meta[key] = key.endsWith(".token_type") ? { i32s: v } : { f32s: v };
    else throw new Error(`cannot rewrite ${key}`);
  }
  for (const [key, v] of Object.entries(changes)) {
    if (v === undefined) delete meta[key];
    else meta[key] = v;
  }
  const tensors = header.tensors.map((t) => {
    if (t.type !== 0) throw new Error(`${t.name} is not F32`);
    const start = header.dataOffset + t.offset;
    const bytes = t.shape.reduce((a, b) => a * b, 4);
    return { name: t.name, dims: t.shape, type: 0, data: STORIES_BYTES.subarray(start, start + bytes) };
  });
  return writeGguf(meta, tensors);
}

/** Awaits a throw (sync or async) and checks its class, message and details. */
async function fails(f: () => unknown, cls: typeof WispError, re: RegExp, details?: object): Promise<void> {
  const e = await (async () => f())().then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, `expected ${cls.name} matching ${re}`).toBeInstanceOf(cls);
  expect((e as Error).message).toMatch(re);
  if (details) expect((e as WispError).details).toMatchObject(details);
}

describe("bad tokenizer metadata → typed errors that name the key and the value", async () => {
  const stories = (await readGgufHeader(memorySource({ "s.gguf": STORIES_BYTES }), "s.gguf")).metadata;
  const withChanges = (changes: GgufMetadata): GgufMetadata => {
    const m = { ...stories, ...changes };
    for (const [k, v] of Object.entries(changes)) if (v === undefined) delete m[k];
    return m;
  };
  const convert = (changes: GgufMetadata) => () => ggufTokenizerFiles(withChanges(changes), "bad.gguf");
  const tokens = stories["tokenizer.ggml.tokens"] as string[];

  it("unknown tokenizer.ggml.model and unknown pre-tokenizers are unsupported, by name", async () => {
    await fails(
      convert({ "tokenizer.ggml.model": "bert" }),
      UnsupportedArchitecture,
      /^"bad.gguf": GGUF tokenizer model "bert" is not supported/,
      { feature: "tokenizer.ggml.model", value: "bert" },
    );
    await fails(convert({ "tokenizer.ggml.model": "t5" }), UnsupportedArchitecture, /"t5"/);
    const gpt2 = { "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.merges": ["▁ t"] };
    await fails(
      convert({ ...gpt2, "tokenizer.ggml.pre": "tekken" }),
      UnsupportedArchitecture,
      /tokenizer.ggml.pre = "tekken" is not supported \(supported: default, llama-bpe, /,
      { feature: "tokenizer.ggml.pre", value: "tekken" },
    );
  });

  it("arrays whose length is not the vocabulary's", async () => {
    await fails(
      convert({ "tokenizer.ggml.scores": (stories["tokenizer.ggml.scores"] as number[]).slice(1) }),
      ModelFileError,
      /tokenizer.ggml.scores has 511 entries but tokenizer.ggml.tokens has 512/,
      { kind: "corrupt", key: "tokenizer.ggml.scores", file: "bad.gguf" },
    );
    await fails(
      convert({ "tokenizer.ggml.token_type": [...(stories["tokenizer.ggml.token_type"] as number[]), 1] }),
      ModelFileError,
      /tokenizer.ggml.token_type has 513 entries but tokenizer.ggml.tokens has 512/,
    );
  });

  it("special-token ids outside the vocabulary", async () => {
    await fails(
      convert({ "tokenizer.ggml.bos_token_id": 512 }),
      ModelFileError,
      /tokenizer.ggml.bos_token_id = 512 is not a token id of the vocabulary \(512 tokens\)/,
      { kind: "corrupt", key: "tokenizer.ggml.bos_token_id" },
    );
    await fails(convert({ "tokenizer.ggml.eos_token_id": -1 }), ModelFileError, /eos_token_id = -1 /);
    await fails(
      convert({ "tokenizer.ggml.unknown_token_id": 1e6 }),
      ModelFileError,
      /unknown_token_id = 1000000 /,
    );
    await fails(
      convert({ "tokenizer.ggml.padding_token_id": 2.5 }),
      ModelFileError,
      /padding_token_id = 2.5 /,
    );
  });

  it("missing or malformed vocabulary, scores and merges", async () => {
    await fails(
      convert({ "tokenizer.ggml.tokens": undefined }),
      ModelFileError,
      /tokens is missing or empty/,
    );
    await fails(convert({ "tokenizer.ggml.tokens": [1, 2, 3] }), ModelFileError, /not an array of strings/);
    await fails(
      convert({ "tokenizer.ggml.tokens": tokens.map((t, i) => (i === 300 ? tokens[261]! : t)) }),
      ModelFileError,
      /tokenizer.ggml.tokens has "▁a" twice \(ids 261 and 300\)/,
    );
    await fails(convert({ "tokenizer.ggml.scores": undefined }), ModelFileError, /scores is missing/);
    await fails(convert({ "tokenizer.ggml.model": "gpt2" }), ModelFileError, /merges is missing/);
    await fails(
      convert({ "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.merges": ["▁ t", "he"] }),
      ModelFileError,
      /tokenizer.ggml.merges\[1\] = "he" is not "left right"/,
    );
  });

  it('no tokenizer.ggml.model (or llama.cpp\'s "none") means no tokenizer, not an error', () => {
    expect(ggufTokenizerFiles(withChanges({ "tokenizer.ggml.model": undefined }))).toBeUndefined();
    expect(ggufTokenizerFiles(withChanges({ "tokenizer.ggml.model": "none" }))).toBeUndefined();
  });

  it("add_space_prefix false drops the SentencePiece prefix space (and its strip on decode)", () => {
    const tok = tokenizerFromGguf(withChanges({ "tokenizer.ggml.add_space_prefix": false }))!;
    const ids = tok.encode("Once upon", { addSpecialTokens: false });
    expect(tok.idToToken(ids[0]!)).toBe("O");
    expect(tok.decode(ids)).toBe("Once upon");
  });
});

/** A PackedCache in memory. */
function memoryCache(): PackedCache & { blobs: Map<string, Uint8Array> } {
  const blobs = new Map<string, Uint8Array>();
  return {
    blobs,
    get: async (name) => blobs.get(name),
    put: async (name, bytes) => {
      blobs.set(name, bytes.slice());
    },
  };
}

describe("Engine.load: a GGUF's tokenizer comes from its metadata", async () => {
  const hf = await loadFolder("stories260K/hf");
  const load = async (files: Record<string, Uint8Array>, options: Parameters<typeof Engine.load>[2] = {}) => {
    const { device } = await nodeDevice();
    return Engine.load(device, memorySource(files), { quant: "f32", contextLength: 64, ...options });
  };

  it("the first load converts it and records it; a load from the packed weights alone has it too", async () => {
    const cache = memoryCache();
    const first = await load({ "stories.gguf": STORIES_BYTES }, { packed: cache });
    expect(first.tokenizer?.encode(STORIES_TEXT)).toEqual(hf.encode(STORIES_TEXT));
    const greedy = await first.generate(hf.encode(""), { maxTokens: 24, temperature: 0 });
    first.destroy();
    expect(greedy.text.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
    expect(cache.blobs.has(GGUF_TOKENIZER_BLOB)).toBe(true);
    const second = await load({}, { packed: cache });
    expect(second.fromPacked).toBe(true);
    expect(second.tokenizer?.encode(STORIES_TEXT)).toEqual(hf.encode(STORIES_TEXT));
    second.destroy();
  });

  it("an explicit tokenizerSource (--tokenizer) still wins; without metadata, tokenizer.json beside it", async () => {
    const smollm = new URL("tokenizers/smollm2-135m-instruct", MODELS).pathname;
    const explicit = await load({ "stories.gguf": STORIES_BYTES }, { tokenizerSource: folderSource(smollm) });
    expect(explicit.tokenizer?.vocabSize).toBe(49152);
    explicit.destroy();
    const bare = await storiesGguf({ "tokenizer.ggml.model": undefined });
    const none = await load({ "stories.gguf": bare });
    expect(none.tokenizer).toBeUndefined();
    none.destroy();
    const hfTokenizer = new TextEncoder().encode((await readOptional("stories260K/hf", "tokenizer.json"))!);
    const beside = await load({ "stories.gguf": bare, "tokenizer.json": hfTokenizer });
    expect(beside.tokenizer?.encode(STORIES_TEXT)).toEqual(hf.encode(STORIES_TEXT));
    beside.destroy();
  });

  it("an unsupported tokenizer fails the load, unless no tokenizer is required (logits)", async () => {
    const bert = { "stories.gguf": await storiesGguf({ "tokenizer.ggml.model": { str: "bert" } }) };
    await fails(() => load(bert), UnsupportedArchitecture, /GGUF tokenizer model "bert" is not supported/);
    const engine = await load(bert, { requireTokenizer: false });
    expect(engine.tokenizer).toBeUndefined();
    expect(await engine.logits([1, 403])).toHaveLength(2);
    engine.destroy();
  });
});
