import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import {
  type ChatMessage,
  loadTokenizer,
  type Tokenizer,
  tokenizerFromFolderFiles,
} from "../src/tokenizer/index.ts";

// Real tokenizer files in ../shared/models beside the checkout; transformers' renderings of them in
// fixtures/templates (made by scripts/make_template_fixtures.py on the GPU machine, which has transformers).
const MODELS = new URL("../../../../shared/models/", import.meta.url);
const FIXTURES = new URL("../fixtures/templates/", import.meta.url);

async function readOptional(url: URL): Promise<string | undefined> {
  try {
    return await readFile(url, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

const loadFolder = (dir: string): Promise<Tokenizer> =>
  tokenizerFromFolderFiles((name) => readOptional(new URL(`${dir}/${name}`, MODELS)));

const SYSTEM_USER: ChatMessage[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "What is the capital of France?" },
];
const MULTI_TURN: ChatMessage[] = [
  { role: "user", content: "Hi" },
  { role: "assistant", content: "<think>\nLet me greet.\n</think>\n\nHello! How can I help?" },
  { role: "user", content: "Grüße, 你好 👋" },
];

describe("qwen3 chat template (hand-derived from its tokenizer_config.json)", async () => {
  const tok = await loadFolder("tokenizers/qwen3");

  it("single user turn", () => {
    expect(tok.applyChatTemplate([{ role: "user", content: "Hello! How are you?" }])).toBe(
      "<|im_start|>user\nHello! How are you?<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("system + user", () => {
    expect(tok.applyChatTemplate(SYSTEM_USER)).toBe(
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("multi-turn: earlier assistant turns lose their <think> block; non-ASCII passes through", () => {
    expect(tok.applyChatTemplate(MULTI_TURN)).toBe(
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n" +
        "<|im_start|>user\nGrüße, 你好 👋<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("enable_thinking: false (an extra variable) pre-fills an empty think block", () => {
    expect(tok.applyChatTemplate(SYSTEM_USER.slice(1), { extra: { enable_thinking: false } })).toBe(
      "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    );
  });

  it("a final assistant turn after the last query gets an (empty) think block; no generation prompt", () => {
    const messages: ChatMessage[] = [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello!" },
    ];
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: false })).toBe(
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n",
    );
  });

  it("tools are listed as JSON, as Python's json.dumps writes them", () => {
    const tools = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Get the weather",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ];
    expect(tok.applyChatTemplate([{ role: "user", content: "Weather in Paris?" }], { tools })).toBe(
      "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
        '{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", ' +
        '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n' +
        "</tools>\n\nFor each function call, return a json object with function name and arguments within " +
        '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n' +
        "</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("tokenizes the rendering without adding specials; special tokens become single ids", () => {
    const ids = tok.encodeChat([{ role: "user", content: "Hi" }]);
    const text = tok.applyChatTemplate([{ role: "user", content: "Hi" }]);
    expect(ids).toEqual(tok.encode(text, { addSpecialTokens: false }));
    expect(ids[0]).toBe(151644);
    expect(ids.filter((id) => id === 151644)).toHaveLength(2);
    expect(ids.filter((id) => id === 151645)).toHaveLength(1);
    expect(tok.decode(ids)).toBe(text);
  });
});

describe("llama3_1 chat template (hand-derived from its tokenizer_config.json)", async () => {
  const tok = await loadFolder("tokenizers/llama3_1");

  it("system + user, BOS written by the template", () => {
    expect(tok.applyChatTemplate(SYSTEM_USER)).toBe(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  it("multi-turn with non-ASCII; contents are trimmed; think text is kept verbatim", () => {
    const messages: ChatMessage[] = [
      { role: "user", content: "  Hi there \n" },
      { role: "assistant", content: "Hello!" },
      { role: "user", content: "Grüße, 你好 👋" },
    ];
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: false })).toBe(
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nGrüße, 你好 👋<|eot_id|>",
    );
  });

  it("the ids hold exactly one BOS (the template's), not two", () => {
    const ids = tok.encodeChat(SYSTEM_USER);
    expect(ids[0]).toBe(128000);
    expect(ids.filter((id) => id === 128000)).toHaveLength(1);
    expect(ids.at(-1)).toBe(271); // "\n\n" after the assistant header
    expect(tok.decode(ids)).toBe(tok.applyChatTemplate(SYSTEM_USER));
  });
});

describe("fallback template (models without one)", async () => {
  const [stories, smol] = await Promise.all([
    loadFolder("stories260K/hf"),
    loadFolder("tokenizers/smollm2-135m-instruct"),
  ]);
  const messages: ChatMessage[] = [
    { role: "system", content: "You are a storyteller." },
    { role: "user", content: "Tell me a story." },
    { role: "assistant", content: "Once upon a time…" },
    { role: "user", content: "Grüße 👋" },
  ];
  const plain =
    "System: You are a storyteller.\nUser: Tell me a story.\nAssistant: Once upon a time…\nUser: Grüße 👋\n";

  it("stories260K: role lines, BOS because its encode adds BOS, 'Assistant:' prompt", () => {
    expect(stories.chatTemplate).toBeUndefined();
    expect(stories.applyChatTemplate(messages)).toBe(`<s>${plain}Assistant:`);
    expect(stories.applyChatTemplate(messages, { addGenerationPrompt: false })).toBe(`<s>${plain}`);
    // Same ids as prompting with the plain text the usual way (BOS added by encode).
    expect(stories.encodeChat(messages)).toEqual(stories.encode(`${plain}Assistant:`));
  });

  it("smollm2 without tokenizer_config.json: no BOS since its encode adds none", () => {
    expect(smol.applyChatTemplate(messages)).toBe(`${plain}Assistant:`);
  });
});

describe("template plumbing", async () => {
  const storiesJson = await readFile(new URL("stories260K/hf/tokenizer.json", MODELS), "utf8");
  const withTemplate = (chat_template: unknown, chatTemplate?: string): Tokenizer =>
    loadTokenizer({
      tokenizerJson: storiesJson,
      tokenizerConfig: { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", chat_template },
      chatTemplate,
    });

  it("raise_exception throws a typed ChatTemplateError with the template's message", () => {
    const tok = withTemplate(
      "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation roles must start with user') }}{% endif %}ok",
    );
    expect(tok.applyChatTemplate([{ role: "user", content: "x" }])).toBe("ok");
    expect(() => tok.applyChatTemplate([{ role: "assistant", content: "x" }])).toThrow(
      expect.objectContaining({
        name: "ChatTemplateError",
        code: "CHAT_TEMPLATE",
        raisedByTemplate: true,
        message: "Conversation roles must start with user",
      }),
    );
  });

  it("a template that cannot parse or render is a ChatTemplateError too, not raised by the template", () => {
    expect(() => withTemplate("{% if %}").applyChatTemplate([])).toThrow(
      expect.objectContaining({ name: "ChatTemplateError", raisedByTemplate: false }),
    );
    expect(() => withTemplate("{{ messages | no_such_filter }}").applyChatTemplate([])).toThrow(
      expect.objectContaining({ name: "ChatTemplateError", raisedByTemplate: false }),
    );
  });

  it("passes the special tokens, add_generation_prompt, tools=None and extra variables", () => {
    const tok = withTemplate(
      "{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ pad_token is defined }}|{{ add_generation_prompt }}|" +
        "{{ tools is none }}|{{ date_string }}",
    );
    expect(tok.applyChatTemplate([], { extra: { date_string: "26 Jul 2024" } })).toBe(
      "<s>|</s>|<unk>|false|true|true|26 Jul 2024",
    );
  });

  it("named templates: tool_use when tools are given, else default; chat_template.jinja wins", () => {
    const tok = withTemplate([
      { name: "default", template: "D" },
      { name: "tool_use", template: "T{{ tools | length }}" },
    ]);
    expect(tok.applyChatTemplate([])).toBe("D");
    expect(tok.applyChatTemplate([], { tools: [{}, {}] })).toBe("T2");
    expect(withTemplate("from config", "from jinja file").applyChatTemplate([])).toBe("from jinja file");
  });
});

// ---- parity with transformers: every fixture file in fixtures/templates ----

interface ChatCase {
  name: string;
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  tools?: unknown[] | null;
  kwargs?: Record<string, unknown>;
  text: string;
  ids: number[];
}
interface EncodeCase {
  text: string;
  ids: number[];
  ids_no_special: number[];
  decoded: string;
  decoded_skip_special: string;
}
interface TemplateFixture {
  tokenizer: string;
  /** Folder under shared/models the fixture was made from, e.g. "tokenizers/qwen3". */
  model_dir: string;
  transformers_version: string;
  bos_token_id: number | null;
  eos_token_id: number | null;
  vocab_size: number;
  chat_cases: ChatCase[];
  encode_cases: EncodeCase[];
}

/**
 * The one place Wisp deliberately differs from transformers 5: the SentencePiece dummy prefix. tokenizer.json
 * of a Llama 2 style tokenizer prepends "▁" to every piece of text (normalizer Prepend + Replace), as the Rust
 * tokenizers, transformers 4, llama2.c's run.c and SentencePiece do; transformers 5's LlamaTokenizer rebuilds
 * the pipeline with a Metaspace pre-tokenizer that skips the prefix when the text already starts with a space,
 * which loses a space on the round trip. So where a piece starts with a space (at the start, or right after a
 * special token) Wisp has one more "▁" (id 410 in stories260K): [tokenizer, text, index of it with / without specials].
 */
const DUMMY_PREFIX_DIVERGENCES: [string, string, number, number][] = [
  ["stories260K", "  leading spaces and trailing  ", 1, 0],
  ["stories260K", "<|im_start|> and <s> typed as text", 14, 13],
];

function expectIds(ours: number[], theirs: number[], extraDummyAt: number | undefined, label: string): void {
  if (extraDummyAt === undefined) {
    expect(ours, label).toEqual(theirs);
    return;
  }
  expect(ours[extraDummyAt], `${label}: the extra dummy prefix`).toBe(410);
  expect(ours.toSpliced(extraDummyAt, 1), label).toEqual(theirs);
}

/** Compares Wisp with one transformers fixture; every mismatch names the case. */
async function checkTemplateFixture(fixture: TemplateFixture): Promise<void> {
  const tok = await loadFolder(fixture.model_dir);
  expect(tok.vocabSize, "len(tokenizer)").toBe(fixture.vocab_size);
  if (fixture.bos_token_id !== null) expect(tok.bosId, "bos_token_id").toBe(fixture.bos_token_id);
  if (fixture.eos_token_id !== null) expect(tok.eosIds, "eos_token_id").toContain(fixture.eos_token_id);
  for (const c of fixture.chat_cases) {
    const options = { addGenerationPrompt: c.add_generation_prompt, extra: c.kwargs ?? {} };
    const withTools = c.tools ? { ...options, tools: c.tools } : options;
    expect(tok.applyChatTemplate(c.messages, withTools), `${fixture.tokenizer}/${c.name} text`).toBe(c.text);
    expect(tok.encodeChat(c.messages, withTools), `${fixture.tokenizer}/${c.name} ids`).toEqual(c.ids);
  }
  for (const c of fixture.encode_cases) {
    const label = `${fixture.tokenizer} ${JSON.stringify(c.text)}`;
    const divergence = DUMMY_PREFIX_DIVERGENCES.find(
      ([t, text]) => t === fixture.tokenizer && text === c.text,
    );
    expectIds(tok.encode(c.text), c.ids, divergence?.[2], `${label} encode`);
    expectIds(
      tok.encode(c.text, { addSpecialTokens: false }),
      c.ids_no_special,
      divergence?.[3],
      `${label} encode without specials`,
    );
    expect(tok.decode(c.ids), `${label} decode`).toBe(c.decoded);
    expect(tok.decode(c.ids, { skipSpecialTokens: true }), `${label} decode skipping specials`).toBe(
      c.decoded_skip_special,
    );
  }
}

describe("parity with transformers' apply_chat_template (fixtures/templates)", async () => {
  const names = ((await readdir(FIXTURES).catch(() => [])) as string[])
    .filter((n) => n.endsWith(".json"))
    .sort();

  it("fixtures exist for qwen3 and llama3_1", () => {
    // Made on the GPU machine: python3 packages/runtime/scripts/make_template_fixtures.py (see its docstring).
    expect(names, "no transformers fixtures in packages/runtime/fixtures/templates").toEqual(
      expect.arrayContaining(["qwen3.json", "llama3_1.json"]),
    );
  });

  for (const name of names) {
    it(name, async () => {
      const fixture = JSON.parse(await readFile(new URL(name, FIXTURES), "utf8")) as TemplateFixture;
      expect(fixture.chat_cases.length + fixture.encode_cases.length).toBeGreaterThan(0);
      await checkTemplateFixture(fixture);
    });
  }
});
