// Type-level tests of the public API, checked by `tsc` (pnpm typecheck); never executed. A wrong
// overload, a widened shape or an accepted invalid request breaks the typecheck.
import { expectTypeOf } from "vitest";
import {
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionStream,
  type Completion,
  type CompletionStream,
  type CreateEngineOptions,
  createEngine,
  type EngineStats,
  type FinishReason,
  InvalidRequestError,
  type ModelInfo,
  WebGPUUnavailable,
  type WispEngine,
  type WispError,
} from "../src/index.ts";

export async function publicApiTypes(engine: WispEngine, files: File[]): Promise<void> {
  expectTypeOf(createEngine).returns.resolves.toEqualTypeOf<WispEngine>();
  expectTypeOf<CreateEngineOptions["model"]>().toEqualTypeOf<string | File[] | FileList>();
  await createEngine({ model: files, quant: "f32", contextLength: 1024, onProgress: (p) => p.fraction });
  // @ts-expect-error quant is int4 or f32
  await createEngine({ model: "a/b", quant: "q8" });
  // @ts-expect-error model is required
  await createEngine({ quant: "int4" });

  const messages = [{ role: "user" as const, content: "hi" }];
  expectTypeOf(
    engine.chat.completions.create({ messages, stream: true }),
  ).resolves.toEqualTypeOf<ChatCompletionStream>();
  expectTypeOf(engine.chat.completions.create({ messages })).resolves.toEqualTypeOf<ChatCompletion>();
  expectTypeOf(
    engine.chat.completions.create({ messages, stream: false }),
  ).resolves.toEqualTypeOf<ChatCompletion>();
  const maybe = Math.random() > 0.5;
  expectTypeOf(engine.chat.completions.create({ messages, stream: maybe })).resolves.toEqualTypeOf<
    ChatCompletionStream | ChatCompletion
  >();
  expectTypeOf<ChatCompletionStream>().toExtend<AsyncIterable<ChatCompletionChunk>>();
  expectTypeOf(
    engine.completions.create({ prompt: "x", stream: true }),
  ).resolves.toEqualTypeOf<CompletionStream>();
  expectTypeOf(engine.completions.create({ prompt: [1, 2, 3] })).resolves.toEqualTypeOf<Completion>();
  expectTypeOf<CompletionStream>().toExtend<AsyncIterable<Completion>>();

  const r = await engine.chat.completions.create({ messages, max_tokens: 8, stop: ["\n"], seed: 1 });
  expectTypeOf(r.object).toEqualTypeOf<"chat.completion">();
  expectTypeOf(r.choices[0]!.finish_reason).toEqualTypeOf<FinishReason>();
  expectTypeOf<FinishReason>().toEqualTypeOf<"stop" | "length" | "abort">();
  expectTypeOf(r.choices[0]!.message.content).toEqualTypeOf<string>();
  expectTypeOf(r.usage.total_tokens).toEqualTypeOf<number>();
  for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) {
    expectTypeOf(chunk.object).toEqualTypeOf<"chat.completion.chunk">();
    expectTypeOf(chunk.choices[0]!.delta.content).toEqualTypeOf<string | undefined>();
    expectTypeOf(chunk.choices[0]!.finish_reason).toEqualTypeOf<FinishReason | null>();
  }

  // @ts-expect-error messages are required
  await engine.chat.completions.create({ stream: true });
  // @ts-expect-error roles are OpenAI's
  await engine.chat.completions.create({ messages: [{ role: "robot", content: "x" }] });
  // @ts-expect-error stop is a string or strings
  await engine.chat.completions.create({ messages, stop: 3 });
  // @ts-expect-error echo is not supported
  await engine.completions.create({ prompt: "x", echo: true });
  // @ts-expect-error a batch of prompts is not supported
  await engine.completions.create({ prompt: ["a", "b"] });
  await engine.chat.completions.create({ messages, signal: new AbortController().signal });

  expectTypeOf(engine.model).toEqualTypeOf<ModelInfo>();
  expectTypeOf(engine.stats()).resolves.toEqualTypeOf<EngineStats>();
  expectTypeOf(engine.unload()).resolves.toBeVoid();
  expectTypeOf<WebGPUUnavailable>().toExtend<WispError>();
  expectTypeOf(new WebGPUUnavailable("x").code).toEqualTypeOf<"WEBGPU_UNAVAILABLE">();
  expectTypeOf(new InvalidRequestError("x", "n").param).toEqualTypeOf<string>();
}
