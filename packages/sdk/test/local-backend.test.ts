// The in-thread backend on a real device (Dawn in Node; SwiftShader without a GPU) with stories260K:
// the same OpenAI-style engine the browser gets, minus the worker.
import { nodeDevice } from "@wisp/gpu-test/node";
import { folderSource } from "@wisp/runtime/node";
import { beforeAll, describe, expect, it } from "vitest";
import { createLocalEngine, type LocalEngineOptions, LocalWispBackend } from "../src/backend/index.ts";
import type { WispEngine } from "../src/client/engine.ts";
import { Aborted, ContextLengthExceeded, InvalidRequestError } from "../src/errors.ts";

const hf = new URL("../../../../shared/models/stories260K/hf", import.meta.url).pathname;
// llama2.c's greedy story from BOS: a greedy continuation of its own first words follows the same path.
const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the";
let engine: WispEngine;

beforeAll(async () => {
  const { device } = await nodeDevice();
  engine = await createLocalEngine({
    device,
    model: { kind: "source", source: folderSource(hf), label: "stories260K" },
    quant: "f32",
    contextLength: 96,
  });
});

describe("LocalWispBackend with stories260K (f32)", () => {
  it("reports what it loaded", () => {
    expect(engine.model).toMatchObject({
      model: "stories260K",
      architecture: "LlamaForCausalLM",
      contextLength: 96,
      quant: "f32",
      hasChatTemplate: false,
    });
  });

  it("greedy completion continues llama2.c's story; streaming gives the same text", async () => {
    const r = await engine.completions.create({ prompt: "Once upon a time", max_tokens: 10, temperature: 0 });
    expect(r.choices[0]!.text.length).toBeGreaterThan(10);
    expect(STORY.startsWith("Once upon a time" + r.choices[0]!.text)).toBe(true);
    expect(r.usage!.completion_tokens).toBe(10);
    const stream = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 10,
      temperature: 0,
      stream: true,
    });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.text ?? "";
    expect(text).toBe(r.choices[0]!.text);
  });

  it("stop strings, seeds and logprobs", async () => {
    const stopped = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 20,
      temperature: 0,
      stop: [" named"],
    });
    expect(stopped.choices[0]).toMatchObject({ text: ", there was a little girl", finish_reason: "stop" });
    const sample = { prompt: "Once upon a time", max_tokens: 6, temperature: 1, seed: 7, logprobs: 0 };
    const a = await engine.completions.create(sample);
    const b = await engine.completions.create(sample);
    expect(b.choices[0]!.text).toBe(a.choices[0]!.text);
    const lp = a.choices[0]!.logprobs!;
    expect(lp.token_logprobs).toHaveLength(6);
    expect(lp.token_logprobs.every((l) => l <= 0 && Number.isFinite(l))).toBe(true);
    expect(lp.tokens.join("")).toBe(a.choices[0]!.text);
  });

  it("chat renders through the fallback template and answers", async () => {
    const r = await engine.chat.completions.create({
      messages: [
        { role: "system", content: "Tell a story." },
        { role: "user", content: "A cat." },
      ],
      max_tokens: 4,
      temperature: 0,
    });
    expect(r.choices[0]!.message.content.length).toBeGreaterThan(0);
    // "<s>System: Tell a story.\nUser: A cat.\nAssistant:" tokenized
    expect(r.usage.prompt_tokens).toBeGreaterThan(10);
  });

  it("abort stops within one token and the engine keeps answering", async () => {
    const controller = new AbortController();
    const stream = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 60,
      temperature: 0,
      stream: true,
      signal: controller.signal,
    });
    let chunks = 0;
    let finish: string | null | undefined;
    for await (const c of stream) {
      if (++chunks === 5) controller.abort();
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe("abort");
    const last = (await engine.stats()).lastRequest!;
    expect(last.finishReason).toBe("abort");
    expect(last.tokensAfterAbort).toBeLessThanOrEqual(1);
    expect(last.completionTokens).toBeLessThan(60);
    const next = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 4,
      temperature: 0,
    });
    expect(next.choices[0]!.finish_reason).toBe("length");
  });

  it("concurrent requests are queued and each equals its sequential answer", async () => {
    const req = (prompt: string) => ({ prompt, max_tokens: 6, temperature: 0 });
    const alone = await engine.completions.create(req("Once upon a time"));
    const [a, b] = await Promise.all([
      engine.completions.create(req("Once upon a time")),
      engine.completions.create({ ...req("Lily"), stream: true }).then(async (s) => {
        let t = "";
        for await (const c of s) t += c.choices[0]?.text ?? "";
        return t;
      }),
    ]);
    const bAlone = await engine.completions.create(req("Lily"));
    expect(a.choices[0]!.text).toBe(alone.choices[0]!.text);
    expect(b).toBe(bAlone.choices[0]!.text);
    expect((await engine.stats()).activeRequests).toBe(0);
  });

  it("a prompt longer than the context is a typed error", async () => {
    await expect(
      engine.completions.create({ prompt: Array.from({ length: 200 }, () => 5), max_tokens: 1 }),
    ).rejects.toBeInstanceOf(ContextLengthExceeded);
  });
});

describe("load options", () => {
  const load = async (extra: Partial<LocalEngineOptions> = {}) => {
    const { device } = await nodeDevice();
    return createLocalEngine({
      device,
      model: { kind: "source", source: folderSource(hf), label: "stories260K" },
      quant: "f32",
      contextLength: 96,
      ...extra,
    });
  };

  it("activations: q8 loads INT4 and completes the story's first words; a bad value is InvalidRequestError", async () => {
    const q8 = await load({ quant: "int4", activations: "q8" });
    try {
      const r = await q8.completions.create({ prompt: "Once upon a time", max_tokens: 6, temperature: 0 });
      expect(STORY.startsWith(`Once upon a time${r.choices[0]!.text}`)).toBe(true);
    } finally {
      await q8.unload();
    }
    await expect(load({ activations: "int8" as "q8" })).rejects.toThrow(InvalidRequestError);
  });

  it("a GPU memory budget that holds 2 of 5 layers streams the rest; same completion text", async () => {
    const m = engine.model.memory;
    expect(m.totalBytes).toBe(m.fixedBytes + 5 * m.perLayerBytes);
    expect(m.residentBytes).toBe(m.totalBytes);
    expect(engine.model.streaming).toBeUndefined();
    expect((await engine.stats()).streaming).toBeUndefined();
    // Room for the fixed part, 2 streaming slots and 2 resident layers, not a third.
    const budget = m.fixedBytes + 4 * m.perLayerBytes + 100;
    const greedy = { prompt: "Once upon a time", max_tokens: 12, temperature: 0 };
    const expected = (await engine.completions.create(greedy)).choices[0]!.text;
    const streamed = await load({ gpuMemoryBudget: budget, streamSlots: 2 });
    try {
      expect(streamed.model.streaming).toEqual({
        residentLayers: 2,
        streamedLayers: 3,
        slots: 2,
        bytesPerPass: 3 * m.perLayerBytes,
      });
      expect(streamed.model.memory).toMatchObject({
        perLayerBytes: m.perLayerBytes,
        fixedBytes: m.fixedBytes,
      });
      expect(streamed.model.memory.residentBytes).toBeLessThanOrEqual(budget);
      const before = (await streamed.stats()).streaming!.bytesStreamed;
      expect((await streamed.completions.create(greedy)).choices[0]!.text).toBe(expected);
      const stats = (await streamed.stats()).streaming!;
      expect(stats).toMatchObject({ residentLayers: 2, streamedLayers: 3, slots: 2 });
      // prefill + one pass per generated token after the first, each uploading the 3 streamed layers
      expect(stats.bytesStreamed - before).toBeGreaterThanOrEqual(12 * stats.bytesPerPass);
    } finally {
      await streamed.unload();
    }
    await expect(load({ gpuMemoryBudget: 0 })).rejects.toMatchObject({
      name: "InvalidRequestError",
      param: "gpuMemoryBudget",
    });
  });

  it("an AbortSignal stops the load during quantization with Aborted", async () => {
    const { device } = await nodeDevice();
    const backend = new LocalWispBackend({ device });
    const controller = new AbortController();
    const phases: string[] = [];
    const t0 = performance.now();
    const r = await backend
      .load(
        { model: { kind: "source", source: folderSource(hf) }, quant: "f32", contextLength: 96 },
        (p) => {
          phases.push(p.phase);
          if (p.phase === "quantize") controller.abort();
        },
        controller.signal,
      )
      .catch((e: unknown) => e);
    expect(r).toBeInstanceOf(Aborted);
    expect(phases).toContain("quantize");
    expect(phases).not.toContain("compile");
    expect((await backend.stats()).loaded).toBe(false);
    console.log(`load aborted during quantization after ${(performance.now() - t0).toFixed(0)} ms`);
    await expect(load({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(Aborted);
  });
});
