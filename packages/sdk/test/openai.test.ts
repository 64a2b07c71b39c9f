// The OpenAI shape mapping, no worker and no GPU: request validation/defaults and the objects built
// from token batches and outcomes.
import { describe, expect, it } from "vitest";
import { resolveModel } from "../src/client/model.ts";
import { InvalidRequestError } from "../src/errors.ts";
import { COMPLETIONS_DEFAULT_MAX_TOKENS, planChat, planCompletion } from "../src/openai/request.ts";
import { ChatResponseBuilder, CompletionResponseBuilder } from "../src/openai/response.ts";
import type { GenerationOutcome, TokenBatch } from "../src/protocol.ts";

const user = (content: string) => ({ role: "user" as const, content });

function invalid(fn: () => unknown, param: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidRequestError);
    expect((e as InvalidRequestError).param).toBe(param);
    expect((e as InvalidRequestError).code).toBe("INVALID_REQUEST");
    return;
  }
  throw new Error(`expected InvalidRequestError for ${param}`);
}

describe("chat request → generation params", () => {
  it("defaults follow OpenAI: temperature 1, top_p 1, no penalties, until the context is full", () => {
    const p = planChat({ messages: [user("hi")] });
    expect(p.params).toEqual({
      maxTokens: Number.MAX_SAFE_INTEGER,
      temperature: 1,
      topP: 1,
      topK: 0,
      minP: 0,
      repetitionPenalty: 1,
      frequencyPenalty: 0,
      presencePenalty: 0,
      stop: [],
    });
    expect(p).toMatchObject({ stream: false, includeUsage: false, logprobs: false });
  });

  it("maps every supported field", () => {
    const p = planChat({
      messages: [{ role: "developer", content: "be brief" }, user("hi")],
      temperature: 0.7,
      top_p: 0.9,
      max_tokens: 50,
      max_completion_tokens: 20,
      stop: "\n\n",
      seed: -1,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      logprobs: true,
      top_logprobs: 0,
      n: 1,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(p.messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "hi" },
    ]);
    expect(p.params).toEqual({
      maxTokens: 20,
      temperature: 0.7,
      topP: 0.9,
      topK: 40,
      minP: 0.05,
      repetitionPenalty: 1.1,
      frequencyPenalty: 0.5,
      presencePenalty: -0.5,
      seed: 2 ** 32 - 1,
      stop: ["\n\n"],
    });
    expect(p).toMatchObject({ stream: true, includeUsage: true, logprobs: true });
  });

  it("top_p 0 is greedy; text parts are joined; include_usage needs stream", () => {
    const p = planChat({
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
      ],
      top_p: 0,
      temperature: 1.5,
      stream_options: { include_usage: true },
    });
    expect(p.params.temperature).toBe(0);
    expect(p.messages[0]!.content).toBe("a\nb");
    expect(p.includeUsage).toBe(false);
  });

  it("refuses what it cannot honour, naming the field", () => {
    const m = [user("hi")];
    invalid(() => planChat({ messages: m, n: 2 }), "n");
    invalid(() => planChat({ messages: m, top_logprobs: 3, logprobs: true }), "top_logprobs");
    invalid(() => planChat({ messages: m, temperature: 3 }), "temperature");
    invalid(() => planChat({ messages: m, top_p: -0.1 }), "top_p");
    invalid(() => planChat({ messages: m, presence_penalty: 2.5 }), "presence_penalty");
    invalid(() => planChat({ messages: m, max_tokens: 0 }), "max_tokens");
    invalid(() => planChat({ messages: m, max_tokens: 1.5 }), "max_tokens");
    invalid(() => planChat({ messages: m, seed: 0.5 }), "seed");
    invalid(() => planChat({ messages: m, stop: ["a", "b", "c", "d", "e"] }), "stop");
    invalid(() => planChat({ messages: [] }), "messages");
    invalid(() => planChat({ messages: [{ role: "robot" as "user", content: "x" }] }), "messages");
    invalid(
      () =>
        planChat({
          messages: [
            { role: "user", content: [{ type: "image_url" } as unknown as { type: "text"; text: string }] },
          ],
        }),
      "messages",
    );
    invalid(
      () =>
        planChat({ messages: m, response_format: { type: "json_object" } as unknown as { type: "text" } }),
      "response_format",
    );
    invalid(() => planChat({ messages: m, tools: [{ type: "function" }] } as never), "tools");
  });
});

describe("completion request → generation params", () => {
  it("string, one-string array and token-id prompts; default max_tokens 16", () => {
    expect(planCompletion({ prompt: "Once" }).prompt).toBe("Once");
    expect(planCompletion({ prompt: ["Once"] }).prompt).toBe("Once");
    expect(planCompletion({ prompt: [1, 2, 3] }).prompt).toEqual([1, 2, 3]);
    expect(planCompletion({ prompt: "x" }).params.maxTokens).toBe(COMPLETIONS_DEFAULT_MAX_TOKENS);
    expect(planCompletion({ prompt: "x", logprobs: 0 }).logprobs).toBe(true);
    expect(planCompletion({ prompt: "x" }).logprobs).toBe(false);
  });

  it("refuses batches, echo, suffix and top alternatives", () => {
    invalid(() => planCompletion({ prompt: ["a", "b"] as never }), "prompt");
    invalid(() => planCompletion({ prompt: [] as never }), "prompt");
    invalid(() => planCompletion({ prompt: "a", echo: true as never }), "echo");
    invalid(() => planCompletion({ prompt: "a", suffix: "z" } as never), "suffix");
    invalid(() => planCompletion({ prompt: "a", logprobs: 5 }), "logprobs");
    invalid(() => planCompletion({ prompt: "a", n: 3 }), "n");
  });
});

const batch = (pieces: Array<[number, string, number]>): TokenBatch => ({
  ids: pieces.map((p) => p[0]),
  text: pieces.map((p) => p[1]),
  logprobs: pieces.map((p) => p[2]),
});

const outcome = (over: Partial<GenerationOutcome> = {}): GenerationOutcome => ({
  requestId: "r",
  text: "Hello world",
  finishReason: "stop",
  promptTokens: 5,
  completionTokens: 3,
  timings: { prefillMs: 1, decodeMs: 2, prefillTokensPerSecond: 5000, decodeTokensPerSecond: 1000 },
  tokensAfterAbort: 0,
  ...over,
});

const head = { id: "chatcmpl-1", created: 1700000000, model: "org/model" };

describe("chat response objects", () => {
  it("a stream: role chunk, one chunk per token with text, finish chunk, usage chunk", () => {
    const b = new ChatResponseBuilder(head, { logprobs: false, includeUsage: true });
    const chunks = [
      b.start(),
      ...b.tokensChunks(batch([[10, "Hello", -0.1]])),
      ...b.tokensChunks(
        batch([
          [11, "", -0.2],
          [12, " world", -0.3],
        ]),
      ),
      ...b.finishChunks(outcome()),
    ];
    expect(chunks.map((c) => c.object)).toEqual(Array(5).fill("chat.completion.chunk"));
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set(["chatcmpl-1"]));
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([
      { role: "assistant", content: "" },
      { content: "Hello" },
      { content: " world" },
      {},
      undefined,
    ]);
    expect(chunks.map((c) => c.choices[0]?.finish_reason)).toEqual([null, null, null, "stop", undefined]);
    expect(chunks.slice(0, 4).every((c) => c.usage === null)).toBe(true);
    expect(chunks[4]!.choices).toEqual([]);
    expect(chunks[4]!.usage).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
  });

  it("without include_usage chunks carry no usage field; a held tail arrives before the finish", () => {
    const b = new ChatResponseBuilder(head, { logprobs: false, includeUsage: false });
    const first = b.tokensChunks(batch([[10, "Hello", -0.1]]));
    const last = b.finishChunks(outcome({ text: "Hello wor", finishReason: "length" }));
    expect("usage" in first[0]!).toBe(false);
    expect(last.map((c) => c.choices[0]!.delta)).toEqual([{ content: " wor" }, {}]);
    expect(last[1]!.choices[0]!.finish_reason).toBe("length");
  });

  it("logprobs: per chunk and in the whole response, chosen token only", () => {
    const b = new ChatResponseBuilder(head, { logprobs: true, includeUsage: false });
    const chunks = b.tokensChunks(
      batch([
        [10, "Hé", -0.5],
        [11, "", -1.5],
      ]),
    );
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.choices[0]!.logprobs).toEqual({
      content: [{ token: "Hé", logprob: -0.5, bytes: [72, 195, 169], top_logprobs: [] }],
      refusal: null,
    });
    const full = b.completion(outcome({ text: "Hé", completionTokens: 2 }));
    expect(full.choices[0]!.logprobs!.content!.map((l) => l.logprob)).toEqual([-0.5, -1.5]);
  });

  it("a whole chat.completion", () => {
    const b = new ChatResponseBuilder(head, { logprobs: false, includeUsage: false });
    b.tokensChunks(batch([[10, "Hello world", -0.1]]));
    expect(b.completion(outcome({ finishReason: "abort" }))).toEqual({
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1700000000,
      model: "org/model",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Hello world", refusal: null },
          finish_reason: "abort",
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
      system_fingerprint: "wisp",
    });
  });
});

describe("text_completion objects", () => {
  it("chunks and the whole response, with legacy logprobs and text offsets", () => {
    const b = new CompletionResponseBuilder(
      { ...head, id: "cmpl-1" },
      { logprobs: true, includeUsage: true },
    );
    const chunks = [
      ...b.tokensChunks(
        batch([
          [10, "Hello", -0.1],
          [12, " world", -0.3],
        ]),
      ),
      ...b.finishChunks(outcome()),
    ];
    expect(chunks.map((c) => c.object)).toEqual(Array(4).fill("text_completion"));
    expect(chunks.map((c) => c.choices[0]?.text)).toEqual(["Hello", " world", "", undefined]);
    expect(chunks[1]!.choices[0]!.logprobs).toEqual({
      tokens: [" world"],
      token_logprobs: [-0.3],
      top_logprobs: [null],
      text_offset: [5],
    });
    expect(chunks[2]!.choices[0]!.finish_reason).toBe("stop");
    expect(chunks[3]!.usage).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
    const full = b.completion(outcome());
    expect(full.choices[0]).toEqual({
      index: 0,
      text: "Hello world",
      finish_reason: "stop",
      logprobs: {
        tokens: ["Hello", " world"],
        token_logprobs: [-0.1, -0.3],
        top_logprobs: [null, null],
        text_offset: [0, 5],
      },
    });
  });
});

describe("model input", () => {
  const page = "http://example.test/app/index.html";
  it("hub ids, absolute and relative URLs, GGUF files", () => {
    expect(resolveModel("HuggingFaceTB/SmolLM2-135M-Instruct", page).spec).toEqual({
      kind: "hf",
      id: "HuggingFaceTB/SmolLM2-135M-Instruct",
    });
    expect(resolveModel("/models/stories", page).spec).toEqual({
      kind: "url",
      url: "http://example.test/models/stories/",
    });
    expect(resolveModel("./m/", page).spec).toEqual({ kind: "url", url: "http://example.test/app/m/" });
    expect(resolveModel("https://cdn.test/x/model-q4_0.gguf", page).spec).toEqual({
      kind: "url",
      url: "https://cdn.test/x/",
      ggufFile: "model-q4_0.gguf",
    });
  });

  it("files, and nonsense refused", () => {
    const files = [new File(["{}"], "config.json"), new File(["x"], "m.gguf")];
    const r = resolveModel(files, page);
    expect(r.spec).toMatchObject({ kind: "files", ggufFile: "m.gguf" });
    invalid(() => resolveModel([], page), "model");
    invalid(() => resolveModel("  ", page), "model");
  });
});
