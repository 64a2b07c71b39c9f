// Generation options on the real engine (Dawn/SwiftShader, stories260K): seeds, sampling knobs, stop
// strings and ids, abort, context overflow, streaming, queued concurrent requests.
import { nodeDevice } from "@wisp/gpu-test/node";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../src/engine/engine.ts";
import { ContextLengthExceeded } from "../src/errors.ts";
import { folderSource } from "../src/loader/node-files.ts";

const hf = new URL("../../../../shared/models/stories260K/hf", import.meta.url).pathname;
let engine: Engine;
const progress: Array<{ phase: string; loaded: number; total: number; fraction: number }> = [];

beforeAll(async () => {
  const { device } = await nodeDevice();
  engine = await Engine.load(device, folderSource(hf), {
    quant: "f32",
    contextLength: 96,
    onProgress: (p) => progress.push(p),
  });
});

describe("engine", () => {
  it("reports every load phase in order, each ending at fraction 1", () => {
    const phases = [...new Set(progress.map((p) => p.phase))];
    expect(phases).toEqual(["download", "quantize", "compile", "warmup"]);
    for (const phase of phases) {
      const last = progress.filter((p) => p.phase === phase).at(-1)!;
      expect(last.fraction, phase).toBe(1);
    }
    const download = progress.filter((p) => p.phase === "download").at(-1)!;
    expect(download.total).toBe(1_044_984 - 8 - 4848); // model.safetensors minus its header
  });

  it("same seed → same tokens; another seed → other tokens; sampled text streams completely", async () => {
    const prompt = engine.tokenizer!.encode("Once upon a time");
    const opts = { maxTokens: 24, temperature: 1, topP: 0.95, topK: 40, seed: 1234, ignoreEos: true };
    const a = await engine.generate(prompt, opts);
    let streamed = "";
    const b = await engine.generate(prompt, { ...opts, onToken: (t) => (streamed += t.text) });
    const c = await engine.generate(prompt, { ...opts, seed: 99 });
    expect(a.ids).toHaveLength(24);
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).not.toEqual(a.ids);
    expect(streamed).toBe(b.text);
    expect(b.text).toBe(engine.tokenizer!.decode(b.ids, { skipSpecialTokens: true }));
    expect(a.usage).toEqual({
      promptTokens: prompt.length,
      completionTokens: 24,
      totalTokens: prompt.length + 24,
    });
    expect(a.logprobs.every((l) => l <= 0 && Number.isFinite(l))).toBe(true);
  });

  it("a stop string ends generation and is not returned; streaming never shows it", async () => {
    let streamed = "";
    const r = await engine.generate([1], {
      temperature: 0,
      maxTokens: 60,
      stop: ["park"],
      onToken: (t) => (streamed += t.text),
    });
    expect(r.finishReason).toBe("stop");
    expect(r.text).toBe(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the ",
    );
    expect(streamed).toBe(r.text);
  });

  it("stop token ids and max tokens set the finish reason", async () => {
    const greedy = await engine.generate([1], { temperature: 0, maxTokens: 10 });
    expect(greedy.finishReason).toBe("length");
    const r = await engine.generate([1], { temperature: 0, maxTokens: 10, stopTokenIds: [greedy.ids[4]!] });
    expect(r.finishReason).toBe("stop");
    expect(r.ids).toEqual(greedy.ids.slice(0, 5));
  });

  it("an AbortSignal stops within a token and the engine answers the next request", async () => {
    const controller = new AbortController();
    let seen = 0;
    const r = await engine.generate([1], {
      temperature: 0,
      maxTokens: 60,
      signal: controller.signal,
      onToken: () => {
        if (++seen === 5) controller.abort();
      },
    });
    expect(r.finishReason).toBe("abort");
    expect(r.ids.length).toBe(5);
    const next = await engine.generate([1], { temperature: 0, maxTokens: 8 });
    expect(next.text.startsWith("Once upon a time")).toBe(true);
  });

  it("context overflow is a typed error; generation stops with 'length' when the cache is full", async () => {
    await expect(engine.generate(new Array(97).fill(1), { maxTokens: 4 })).rejects.toBeInstanceOf(
      ContextLengthExceeded,
    );
    const r = await engine.generate(
      new Array(90).fill(1).map((_, i) => (i === 0 ? 1 : 400)),
      { temperature: 0, maxTokens: 50 },
    );
    expect(r.finishReason).toBe("length");
    expect(r.usage.totalTokens).toBeLessThanOrEqual(97);
  });

  it("concurrent requests are queued, never interleaved", async () => {
    const [a, b] = await Promise.all([
      engine.generate([1], { temperature: 0, maxTokens: 20 }),
      engine.generate(engine.tokenizer!.encode("Tom had a dog"), { temperature: 0, maxTokens: 20 }),
    ]);
    const a2 = await engine.generate([1], { temperature: 0, maxTokens: 20 });
    const b2 = await engine.generate(engine.tokenizer!.encode("Tom had a dog"), {
      temperature: 0,
      maxTokens: 20,
    });
    expect(a.ids).toEqual(a2.ids);
    expect(b.ids).toEqual(b2.ids);
  });
});
