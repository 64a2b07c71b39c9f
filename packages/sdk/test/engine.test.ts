// WispEngine over a GPU-free backend, in-thread and across a real Comlink boundary (a MessageChannel,
// the same code the worker runs): streaming, batching, abort, queued requests and typed errors.

import { serializeError, toWispError } from "@wisp/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { BatchPump } from "../src/backend/batch.ts";
import { WispEngine } from "../src/client/engine.ts";
import { Aborted, ContextLengthExceeded, InvalidRequestError, WispError } from "../src/errors.ts";
import type { ChatCompletionChunk, Completion } from "../src/openai/types.ts";
import {
  type BackendConnection,
  connectEndpoint,
  exposeBackend,
  inThreadConnection,
} from "../src/transport.ts";
import { FakeBackend, WORDS } from "./fake-backend.ts";

const ports: MessagePort[] = [];
afterAll(() => {
  for (const p of ports) p.close();
});

const transports: Array<[string, (b: FakeBackend) => BackendConnection]> = [
  ["in-thread", (b) => inThreadConnection(b)],
  [
    "comlink",
    (b) => {
      const { port1, port2 } = new MessageChannel();
      ports.push(port1, port2);
      exposeBackend(b, port1);
      return connectEndpoint(port2);
    },
  ],
];

async function open(connect: (b: FakeBackend) => BackendConnection, tokenMs = 2) {
  const backend = new FakeBackend(tokenMs);
  const connection = connect(backend);
  const progress: number[] = [];
  const engine = await WispEngine.connect(connection, () =>
    connection.api.load({ model: { kind: "hf", id: "org/fake" }, label: "org/fake" }, (p) => {
      progress.push(p.fraction);
    }),
  );
  return { backend, engine, progress };
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe.each(transports)("engine over %s", (_name, connect) => {
  it("loads with progress, answers a whole chat.completion", async () => {
    const { engine, progress } = await open(connect);
    // progress crosses the boundary without blocking the load: give the last message a moment
    await new Promise((r) => setTimeout(r, 10));
    expect(progress).toEqual([0.5, 1]);
    expect(engine.model.model).toBe("org/fake");
    const r = await engine.chat.completions.create({
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 4,
    });
    expect(r.object).toBe("chat.completion");
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.model).toBe("org/fake");
    expect(r.choices[0]!.message).toEqual({ role: "assistant", content: "Once upon a time", refusal: null });
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(r.usage.completion_tokens).toBe(4);
  });

  it("streams chunks whose deltas concatenate to the text, then finish and usage", async () => {
    const { engine } = await open(connect);
    const stream = await engine.chat.completions.create({
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: ChatCompletionChunk[] = await collect(stream);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(WORDS.join(""));
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(WORDS.length);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("stop");
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(WORDS.length);
  });

  it("completions.create streams text_completion chunks", async () => {
    const { engine } = await open(connect);
    const stream = await engine.completions.create({ prompt: "Once", max_tokens: 3, stream: true });
    const chunks: Completion[] = await collect(stream);
    expect(chunks.every((c) => c.object === "text_completion" && c.id.startsWith("cmpl-"))).toBe(true);
    expect(chunks.map((c) => c.choices[0]!.text).join("")).toBe("Once upon a");
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("length");
  });

  it("an AbortSignal ends the stream with finish_reason abort within one token; the next request works", async () => {
    const { engine, backend } = await open(connect, 15);
    const controller = new AbortController();
    const stream = await engine.chat.completions.create({
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      signal: controller.signal,
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) {
      chunks.push(c);
      if (chunks.length === 3) controller.abort();
    }
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("abort");
    const stats = await engine.stats();
    expect(stats.lastRequest!.finishReason).toBe("abort");
    expect(stats.lastRequest!.tokensAfterAbort).toBeLessThanOrEqual(1);
    expect(stats.lastRequest!.completionTokens).toBeLessThan(WORDS.length);
    expect(backend.aborted).toHaveLength(1);
    const next = await engine.completions.create({ prompt: "x", max_tokens: 2 });
    expect(next.choices[0]!.text).toBe("Once upon");
  });

  it("a pre-aborted signal and breaking out of the loop both abort", async () => {
    const { engine, backend } = await open(connect, 10);
    const r = await engine.chat.completions.create({
      messages: [{ role: "user", content: "hi" }],
      signal: AbortSignal.abort(),
    });
    expect(r.choices[0]!.finish_reason).toBe("abort");
    expect(r.usage.completion_tokens).toBeLessThanOrEqual(1);
    const stream = await engine.completions.create({ prompt: "x", stream: true, max_tokens: 10 });
    for await (const _ of stream) break;
    await new Promise((res) => setTimeout(res, 50));
    expect(backend.aborted).toHaveLength(2);
    expect((await engine.stats()).lastRequest!.finishReason).toBe("abort");
  });

  it("concurrent requests queue and each gets its own complete answer", async () => {
    const { engine } = await open(connect);
    const [a, b, c] = await Promise.all([
      engine.completions.create({ prompt: "a", max_tokens: 5 }),
      engine.chat.completions.create({ messages: [{ role: "user", content: "b" }], max_tokens: 3 }),
      engine.completions.create({ prompt: "c", max_tokens: 5, stream: true }).then(collect),
    ]);
    expect(a.choices[0]!.text).toBe("Once upon a time,");
    expect(b.choices[0]!.message.content).toBe("Once upon a");
    expect(c.map((x) => x.choices[0]!.text).join("")).toBe("Once upon a time,");
  });

  it("typed errors keep class, name, code and details; invalid requests never reach the backend", async () => {
    const { engine } = await open(connect);
    const err = await engine.chat.completions
      .create({ messages: [{ role: "user", content: "overflow" }], stream: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextLengthExceeded);
    expect(err).toBeInstanceOf(WispError);
    expect(err).toMatchObject({
      name: "ContextLengthExceeded",
      code: "CONTEXT_LENGTH_EXCEEDED",
      details: { promptTokens: 999, contextLength: 64 },
    });
    await expect(
      engine.chat.completions.create({ messages: [{ role: "user", content: "x" }], n: 2 }),
    ).rejects.toBeInstanceOf(InvalidRequestError);
    expect((await engine.stats()).requestsServed).toBe(0);
  });

  it("unload stops the engine for good", async () => {
    const { engine } = await open(connect);
    await engine.unload();
    await expect(engine.completions.create({ prompt: "x" })).rejects.toThrow(/unloaded/);
  });
});

describe("worker boundary", () => {
  it("a worker that dies rejects pending calls with a WispError instead of hanging", async () => {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1, port2);
    const stuck = new FakeBackend();
    stuck.stats = () => new Promise(() => {});
    exposeBackend(stuck, port1);
    const connection = connectEndpoint(port2, { label: "test" });
    const pending = connection.api.stats();
    port2.dispatchEvent(new Event("error"));
    await expect(pending).rejects.toThrow(/Wisp worker \(test\) crashed/);
    await expect(pending).rejects.toBeInstanceOf(WispError);
    connection.close();
    await expect(connection.api.stats()).rejects.toThrow(/unloaded/);
  });

  it("aborting a load terminates the worker at once and rejects with Aborted", async () => {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1, port2);
    exposeBackend(new FakeBackend(2, 10_000), port1);
    let terminated = 0;
    const endpoint = Object.assign(port2, { terminate: () => terminated++ });
    const connection = connectEndpoint(endpoint);
    const controller = new AbortController();
    const t0 = performance.now();
    const loading = WispEngine.connect(
      connection,
      () =>
        connection.api.load({ model: { kind: "hf", id: "org/fake" } }, (p) => {
          if (p.fraction === 0.5) controller.abort();
        }),
      controller.signal,
    );
    await expect(loading).rejects.toBeInstanceOf(Aborted);
    await expect(loading).rejects.toMatchObject({ name: "Aborted", code: "ABORTED" });
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(terminated).toBe(1);
    await expect(connection.api.stats()).rejects.toThrow(/unloaded/);

    // Already aborted: the load is never sent.
    let loads = 0;
    const idle = inThreadConnection(new FakeBackend());
    await expect(
      WispEngine.connect(
        idle,
        () => {
          loads++;
          return idle.api.load({ model: { kind: "hf", id: "org/fake" } });
        },
        AbortSignal.abort(),
      ),
    ).rejects.toBeInstanceOf(Aborted);
    expect(loads).toBe(0);
  });
});

describe("batching", () => {
  it("tokens that arrive while a batch is being delivered travel together", async () => {
    const sizes: number[] = [];
    const pump = new BatchPump(async (b) => {
      sizes.push(b.ids.length);
      await new Promise((r) => setTimeout(r, 20));
    });
    for (let i = 0; i < 10; i++) pump.push(i, `${i}`, 0);
    await pump.drain();
    expect(sizes).toEqual([1, 9]);
  });

  it("a failing consumer does not fail generation", async () => {
    const pump = new BatchPump(() => {
      throw new Error("gone");
    });
    pump.push(1, "a", 0);
    pump.push(2, "b", 0);
    await expect(pump.drain()).resolves.toBeUndefined();
  });

  it("an error survives structured cloning as a SerializedError", () => {
    const e = toWispError(structuredClone(serializeError(new Aborted("stop"))));
    expect(e).toBeInstanceOf(Aborted);
    expect(e.code).toBe("ABORTED");
  });
});
