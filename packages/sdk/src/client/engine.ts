// The engine a developer holds: OpenAI-style `chat.completions.create` and `completions.create` over a
// backend connection (a worker in the browser, in-thread in Node). Requests are validated here, sent
// with one batch callback each, and turned back into OpenAI objects or a stream of chunks.
import { Aborted, WispError } from "@wisp/runtime";
import { InvalidRequestError } from "../errors.ts";
import { planChat, planCompletion } from "../openai/request.ts";
import { ChatResponseBuilder, CompletionResponseBuilder, requestId } from "../openai/response.ts";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  Completion,
  CompletionCreateParams,
  CompletionCreateParamsNonStreaming,
  CompletionCreateParamsStreaming,
} from "../openai/types.ts";
import type { BatchCallback, EngineStats, GenerationOutcome, ModelInfo, TokenBatch } from "../protocol.ts";
import type { BackendConnection } from "../transport.ts";
import { ChunkStream } from "./stream.ts";

/** A streamed chat completion: `for await (const chunk of stream)`; `stream.abort()` stops it. */
export type ChatCompletionStream = ChunkStream<ChatCompletionChunk>;
/** A streamed text completion (each chunk has the `text_completion` shape). */
export type CompletionStream = ChunkStream<Completion>;

export interface ChatCompletions {
  create(body: ChatCompletionCreateParamsStreaming): Promise<ChatCompletionStream>;
  create(body: ChatCompletionCreateParamsNonStreaming): Promise<ChatCompletion>;
  create(body: ChatCompletionCreateParams): Promise<ChatCompletionStream | ChatCompletion>;
}

export interface Completions {
  create(body: CompletionCreateParamsStreaming): Promise<CompletionStream>;
  create(body: CompletionCreateParamsNonStreaming): Promise<Completion>;
  create(body: CompletionCreateParams): Promise<CompletionStream | Completion>;
}

interface Builder<Chunk, Full> {
  start?(): Chunk;
  tokensChunks(batch: TokenBatch): Chunk[];
  finishChunks(outcome: GenerationOutcome): Chunk[];
  completion(outcome: GenerationOutcome): Full;
}

export class WispEngine {
  readonly chat: { completions: ChatCompletions };
  readonly completions: Completions;
  private unloaded = false;

  private constructor(
    private readonly connection: BackendConnection,
    /** What was loaded: model, architecture, context length, quantization, adapter. */
    readonly model: ModelInfo,
  ) {
    this.chat = {
      completions: { create: ((body: ChatCompletionCreateParams) => this.chatCreate(body)) as never },
    };
    this.completions = { create: ((body: CompletionCreateParams) => this.completionCreate(body)) as never };
  }

  /**
   * Runs `load` (the backend's load call) and returns the engine; on failure the backend is closed.
   * `signal` aborts the load: the backend is closed at once (a worker is terminated, which ends its
   * download, quantization and GPU memory) and this rejects with Aborted.
   */
  static async connect(
    connection: BackendConnection,
    load: () => Promise<ModelInfo>,
    signal?: AbortSignal,
  ): Promise<WispEngine> {
    let onAbort = () => {};
    try {
      if (signal?.aborted) throw new Aborted("the model load was aborted");
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => {
          reject(new Aborted("the model load was aborted"));
          connection.close();
        };
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      return new WispEngine(connection, await Promise.race([load(), aborted]));
    } catch (e) {
      connection.close();
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Counters and the last request's timings (tokens/s) as the backend measured them. */
  async stats(): Promise<EngineStats> {
    this.assertLoaded();
    return this.connection.api.stats();
  }

  /** Stops running requests, frees the GPU memory and the worker. The engine cannot be used after. */
  async unload(): Promise<void> {
    if (this.unloaded) return;
    this.unloaded = true;
    try {
      await this.connection.api.unload();
    } finally {
      this.connection.close();
    }
  }

  private assertLoaded(): void {
    if (this.unloaded) throw new WispError("the engine was unloaded; create a new one");
  }

  private chatCreate(body: ChatCompletionCreateParams): Promise<ChatCompletionStream | ChatCompletion> {
    return this.run(body, "chatcmpl", (id) => {
      const plan = planChat(body);
      const builder = new ChatResponseBuilder(this.head(id), plan);
      const send = (rid: string, onChunk: BatchCallback) =>
        this.connection.api.chatCompletion(
          { requestId: rid, messages: plan.messages, params: plan.params },
          onChunk,
        );
      return { plan, builder, send };
    });
  }

  private completionCreate(body: CompletionCreateParams): Promise<CompletionStream | Completion> {
    return this.run(body, "cmpl", (id) => {
      const plan = planCompletion(body);
      const builder = new CompletionResponseBuilder(this.head(id), plan);
      const send = (rid: string, onChunk: BatchCallback) =>
        this.connection.api.completion({ requestId: rid, prompt: plan.prompt, params: plan.params }, onChunk);
      return { plan, builder, send };
    });
  }

  private head(id: string) {
    return { id, created: Math.floor(Date.now() / 1000), model: this.model.model };
  }

  private async run<Chunk, Full>(
    body: { signal?: AbortSignal },
    prefix: string,
    prepare: (id: string) => {
      plan: { stream: boolean };
      builder: Builder<Chunk, Full>;
      send: (requestId: string, onChunk: BatchCallback) => Promise<GenerationOutcome>;
    },
  ): Promise<ChunkStream<Chunk> | Full> {
    this.assertLoaded();
    if (body === null || typeof body !== "object") {
      throw new InvalidRequestError("the request must be an object", "body");
    }
    const id = requestId(prefix);
    const { plan, builder, send } = prepare(id);
    const signal = body.signal;
    const abort = () => {
      this.connection.api.abort(id).catch(() => {});
    };
    let started: () => void = () => {};
    const startedP = new Promise<void>((resolve) => {
      started = resolve;
    });
    const stream = plan.stream ? new ChunkStream<Chunk>(abort) : undefined;
    if (stream && builder.start) stream.push(builder.start());
    const outcome = send(id, (batch) => {
      const chunks = builder.tokensChunks(batch);
      stream?.push(...chunks);
      started();
    });
    // After send: the backend registers the request before it reads the abort that follows.
    if (signal?.aborted) abort();
    else signal?.addEventListener("abort", abort, { once: true });
    outcome.finally(() => signal?.removeEventListener("abort", abort)).catch(() => {});

    if (!stream) return builder.completion(await outcome);
    outcome.then(
      (o) => {
        stream.push(...builder.finishChunks(o));
        stream.end();
      },
      (e: unknown) => stream.fail(e),
    );
    // create() settles when the request has started (first tokens) or failed, so errors such as
    // ContextLengthExceeded reject it as an HTTP error would reject OpenAI's create().
    await Promise.race([startedP, outcome]);
    return stream;
  }
}
