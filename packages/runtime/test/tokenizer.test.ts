import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ModelFileError } from "../src/errors.ts";
import { cleanUpTokenizationSpaces } from "../src/tokenizer/cleanup.ts";
import { loadTokenizer, type Tokenizer, tokenizerFromFolderFiles } from "../src/tokenizer/index.ts";
import { createStreamDecoder } from "../src/tokenizer/stream.ts";

// The real tokenizer files live in ../shared/models beside the checkout (see shared/models/README.md).
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

const FOLDERS = {
  stories260K: "stories260K/hf",
  qwen3: "tokenizers/qwen3",
  llama3_1: "tokenizers/llama3_1",
  smollm2: "tokenizers/smollm2-135m-instruct",
} as const;

const TEXTS = [
  "Once upon a time",
  "Grüße, 你好 👋",
  "日本語のテキストと中文混合。",
  "Emoji: 👨‍👩‍👧 family, 🇫🇷 flag, 🙂",
  "  leading spaces and trailing  ",
  "Hello , world ! I 'm here , aren 't you ?",
  "line one\n\nline two\ttab",
  "def f(x):\n    return x ** 2  # ünïcödé",
  "Ça va? Привет! ¿Qué tal?",
];

function streamAll(
  tokenizer: Tokenizer,
  ids: number[],
  skipSpecialTokens: boolean,
): { text: string; pieces: string[] } {
  const decoder = tokenizer.createDecoder({ skipSpecialTokens });
  const pieces = ids.map((id) => decoder.push(id));
  pieces.push(decoder.flush());
  return { text: pieces.join(""), pieces };
}

describe("stories260K (Llama 2 style SentencePiece BPE with byte fallback)", async () => {
  const tok = await loadFolder(FOLDERS.stories260K);

  it("encodes with BOS first, as add_bos_token and the post_processor say", () => {
    // ▁Once ▁upon ▁a ▁time; ids checked against llama2.c's tok512.bin vocabulary order.
    expect(tok.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
    expect(tok.encode("Once upon a time", { addSpecialTokens: false })).toEqual([403, 407, 261, 378]);
    expect(tok.idToToken(403)).toBe("▁Once");
  });

  it("decodes back, with and without special tokens", () => {
    const ids = tok.encode("Once upon a time");
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("Once upon a time");
    // As the Rust tokenizers: the special token is a token like others, the SentencePiece space stays.
    expect(tok.decode(ids)).toBe("<s> Once upon a time");
  });

  it("round-trips non-ASCII text through byte-fallback tokens", () => {
    const text = "Grüße, 你好 👋";
    const ids = tok.encode(text);
    expect(ids.map((id) => tok.idToToken(id))).toContain("<0xF0>"); // 👋 is four byte tokens
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
  });

  it("streams a character split over byte tokens only once it is complete", () => {
    const ids = tok.encode("👋", { addSpecialTokens: false });
    const { pieces, text } = streamAll(tok, ids, true);
    expect(ids.length).toBeGreaterThanOrEqual(4);
    expect(pieces.filter((p) => p !== "")).toEqual(["👋"]); // no U+FFFD ever leaks out
    expect(text).toBe(tok.decode(ids, { skipSpecialTokens: true }));
  });

  it("knows its special tokens and sizes", () => {
    expect(tok.bosId).toBe(1);
    expect(tok.eosIds).toEqual([2]);
    expect(tok.vocabSize).toBe(512);
    expect(tok.bosToken).toBe("<s>");
    expect(tok.specialTokenId("</s>")).toBe(2);
    expect(tok.specialTokenId("▁Once")).toBeUndefined();
    expect(tok.isSpecialId(1)).toBe(true);
    expect(tok.isSpecialId(403)).toBe(false);
  });
});

describe("special tokens and sizes of the other tokenizers", async () => {
  const [qwen3, llama, smol] = await Promise.all([
    loadFolder(FOLDERS.qwen3),
    loadFolder(FOLDERS.llama3_1),
    loadFolder(FOLDERS.smollm2),
  ]);

  it("qwen3: no BOS, <|im_end|> ends a turn, ByteLevel adds nothing", () => {
    expect(qwen3.bosId).toBeUndefined();
    expect(qwen3.eosIds).toEqual([151645]);
    expect(qwen3.vocabSize).toBe(151669);
    expect(qwen3.specialTokenId("<|im_start|>")).toBe(151644);
    expect(qwen3.tokenToId("<|endoftext|>")).toBe(151643);
    expect(qwen3.encode("Once upon a time")).toEqual(
      qwen3.encode("Once upon a time", { addSpecialTokens: false }),
    );
  });

  it("llama3_1: <|begin_of_text|> added by the post_processor, <|eot_id|> from tokenizer_config", () => {
    expect(llama.bosId).toBe(128000);
    expect(llama.eosIds).toEqual([128009]);
    expect(llama.vocabSize).toBe(128256);
    const ids = llama.encode("Once upon a time");
    expect(ids[0]).toBe(128000);
    expect(ids.slice(1)).toEqual(llama.encode("Once upon a time", { addSpecialTokens: false }));
  });

  it("smollm2 (no tokenizer_config.json): ids from config.json, nothing added by encode", () => {
    expect(smol.bosId).toBe(1);
    expect(smol.eosIds).toEqual([2]);
    expect(smol.bosToken).toBe("<|im_start|>");
    expect(smol.eosToken).toBe("<|im_end|>");
    expect(smol.vocabSize).toBe(49152);
    expect(smol.encode("Hi")).toEqual(smol.encode("Hi", { addSpecialTokens: false }));
  });

  it("clean_up_tokenization_spaces: off for BPE even when tokenizer_config sets it (as transformers 5)", () => {
    const text = "Hello , world !";
    // llama3_1's tokenizer_config.json says clean_up_tokenization_spaces: true; transformers 5.17 ignores it.
    expect(llama.decode(llama.encode(text, { addSpecialTokens: false }))).toBe(text);
    expect(
      llama.decode(llama.encode(text, { addSpecialTokens: false }), { cleanUpTokenizationSpaces: true }),
    ).toBe("Hello, world!");
    expect(qwen3.decode(qwen3.encode(text))).toBe(text);
    expect(smol.decode(smol.encode(text))).toBe(text);
  });

  it("ids past the vocabulary (padded embeddings) decode to nothing", () => {
    expect(qwen3.decode([151935, ...qwen3.encode("ok")])).toBe("ok");
    expect(qwen3.decode([])).toBe("");
  });
});

describe("streaming decoder equals decode", async () => {
  const tokenizers = await Promise.all(
    Object.entries(FOLDERS).map(async ([name, dir]) => [name, await loadFolder(dir)] as const),
  );

  for (const [name, tok] of tokenizers) {
    for (const skipSpecialTokens of [false, true]) {
      it(`${name}, skipSpecialTokens=${skipSpecialTokens}`, () => {
        for (const text of TEXTS) {
          const ids = tok.encode(text);
          if (tok.eosIds[0] !== undefined) ids.push(tok.eosIds[0]); // a generation ends on EOS
          const expected = tok.decode(ids, { skipSpecialTokens });
          const { text: streamed, pieces } = streamAll(tok, ids, skipSpecialTokens);
          expect(streamed, JSON.stringify(text)).toBe(expected);
          for (const piece of pieces) expect(piece).not.toContain("\uFFFD");
          // Every tokenizer here round-trips exactly (stories260K's decoder strips the dummy-prefix space).
          if (skipSpecialTokens) expect(expected).toBe(text);
        }
      });
    }
  }

  it("with clean_up_tokenization_spaces forced on, a real tokenizer streams the cleaned text", () => {
    const llama = tokenizers.find(([name]) => name === "llama3_1")![1];
    for (const text of TEXTS) {
      const ids = llama.encode(text);
      const decoder = llama.createDecoder({ skipSpecialTokens: true, cleanUpTokenizationSpaces: true });
      const streamed = ids.map((id) => decoder.push(id)).join("") + decoder.flush();
      expect(streamed).toBe(cleanUpTokenizationSpaces(text));
    }
  });

  it("a stream also concatenates across texts glued together (generation is one long stream)", () => {
    for (const [, tok] of tokenizers) {
      const ids = TEXTS.flatMap((t) => tok.encode(t, { addSpecialTokens: false }));
      expect(streamAll(tok, ids, true).text).toBe(tok.decode(ids, { skipSpecialTokens: true }));
    }
  });
});

describe("clean_up_tokenization_spaces while streaming", () => {
  // A fake tokenizer whose ids are UTF-16 code units, so any cut of any text can be streamed.
  const decodeRaw = (ids: number[]): string => String.fromCharCode(...ids);
  const alphabet = [" ", " ", "a", "n", "'", "t", "m", "s", "v", "e", "r", ".", ",", "!", "?", "\n"];

  it("matches cleaning the whole text, for random texts", () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 2000; trial++) {
      const length = 1 + rand(40);
      let text = "";
      for (let i = 0; i < length; i++) text += alphabet[rand(alphabet.length)];
      const decoder = createStreamDecoder(decodeRaw, true);
      let out = "";
      for (const ch of text) out += decoder.push(ch.charCodeAt(0));
      out += decoder.flush();
      expect(out, JSON.stringify(text)).toBe(cleanUpTokenizationSpaces(text));
    }
  });

  it("is transformers' chain, order included", () => {
    expect(cleanUpTokenizationSpaces("Hello , world ! I 'm here . Do n't ' quote ' ?")).toBe(
      // Python's str.replace chain gives this (the " ?" goes first, so " ' " no longer matches).
      "Hello, world! I'm here. Don't'quote '?",
    );
  });
});

describe("errors", () => {
  it("a folder without tokenizer.json raises ModelFileError naming the file", async () => {
    const promise = tokenizerFromFolderFiles(async (name) => (name === "config.json" ? "{}" : undefined));
    await expect(promise).rejects.toBeInstanceOf(ModelFileError);
    await expect(promise).rejects.toMatchObject({
      name: "ModelFileError",
      code: "MODEL_FILE",
      details: { kind: "missing_file", file: "tokenizer.json" },
    });
    await expect(promise).rejects.toThrow(/tokenizer\.json/);
  });

  it("corrupt or unusable tokenizer.json raises ModelFileError naming the file", async () => {
    const promise = tokenizerFromFolderFiles(async (name) =>
      name === "tokenizer.json" ? "{not json" : undefined,
    );
    await expect(promise).rejects.toMatchObject({
      name: "ModelFileError",
      details: { kind: "corrupt", file: "tokenizer.json" },
    });
    expect(() => loadTokenizer({ tokenizerJson: { version: "1.0" } })).toThrow(ModelFileError);
  });
});
