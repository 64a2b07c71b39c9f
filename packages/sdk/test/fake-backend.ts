// A WispWorkerApi without a GPU: emits scripted tokens on a timer, queues requests one at a time (as
// the engine does), honours abort between tokens, and raises typed errors on request. It batches
// through the real BatchPump, so the client and the Comlink boundary see what the worker sends.
import { ContextLengthExceeded } from "@wisp/runtime";
import { BatchPump } from "../src/backend/batch.ts";
import type {
  BatchCallback,
  ChatGenerationRequest,
  DeviceProbe,
  EngineStats,
  GenerationOutcome,
  GenerationParams,
  LoadRequest,
  ModelInfo,
  ProbeProgressCallback,
  ProbeRequest,
  ProgressCallback,
  TextGenerationRequest,
  WispWorkerApi,
} from "../src/protocol.ts";

export const WORDS = ["Once", " upon", " a", " time", ",", " there", " was", " a", " cat", "."];

export class FakeBackend implements WispWorkerApi {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly controllers = new Map<string, AbortController>();
  private served = 0;
  private last: GenerationOutcome | undefined;
  readonly aborted: string[] = [];
  batchesSent = 0;

  constructor(
    private readonly tokenMs = 2,
    /** How long load() takes after its first progress event. */
    private readonly loadMs = 0,
  ) {}

  async load(request: LoadRequest, onProgress?: ProgressCallback): Promise<ModelInfo> {
    await onProgress?.({ phase: "quantize", loaded: 1, total: 2, fraction: 0.5 });
    if (this.loadMs) await new Promise((r) => setTimeout(r, this.loadMs));
    await onProgress?.({ phase: "quantize", loaded: 2, total: 2, fraction: 1 });
    return {
      model: request.label ?? "fake",
      architecture: "LlamaForCausalLM",
      vocabSize: 512,
      contextLength: 64,
      quant: request.quant ?? "int4",
      hasChatTemplate: false,
      loadMs: 1,
      adapter: "none",
      memory: { perLayerBytes: 100, fixedBytes: 1000, totalBytes: 1500, residentBytes: 1500 },
    };
  }

  async unload(): Promise<void> {
    for (const c of this.controllers.values()) c.abort();
  }

  chatCompletion(request: ChatGenerationRequest, onChunk: BatchCallback): Promise<GenerationOutcome> {
    return this.generate(
      request.requestId,
      request.messages.map((m) => m.content).join("\n"),
      request.params,
      onChunk,
    );
  }

  completion(request: TextGenerationRequest, onChunk: BatchCallback): Promise<GenerationOutcome> {
    const prompt = typeof request.prompt === "string" ? request.prompt : request.prompt.join(" ");
    return this.generate(request.requestId, prompt, request.params, onChunk);
  }

  async abort(requestId: string): Promise<void> {
    this.aborted.push(requestId);
    this.controllers.get(requestId)?.abort();
  }

  async stats(): Promise<EngineStats> {
    return {
      loaded: true,
      activeRequests: this.controllers.size,
      requestsServed: this.served,
      ...(this.last ? { lastRequest: this.last } : {}),
    };
  }

  /** A scripted probe: two progress events, then a result that "fits"; no GPU. */
  async probe(request: ProbeRequest, onProgress?: ProbeProgressCallback): Promise<DeviceProbe> {
    await onProgress?.({ phase: "build", fraction: 0.2 });
    await onProgress?.({ phase: "done", fraction: 1 });
    return {
      decodeTokS: 50,
      msPerToken: 20,
      layersMeasured: [1, 3],
      measured: [],
      method: "scripted",
      fits: true,
      verdict: "fits",
      reason: "fake",
      weightBytes: 1000,
      kvBytes: 100,
      activationBytes: 10,
      totalBytes: 1110,
      contextLength: request.contextLength ?? 64,
      gpuMemoryBudget: 2 ** 31,
      budgetSource: "assumed",
      limits: { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 },
      buildMs: 1,
      measureMs: 1,
      elapsedMs: 2,
      architecture: "LlamaForCausalLM",
      adapter: "none",
    };
  }

  private generate(
    requestId: string,
    prompt: string,
    params: GenerationParams,
    onChunk: BatchCallback,
  ): Promise<GenerationOutcome> {
    const controller = new AbortController();
    this.controllers.set(requestId, controller);
    const run = async (): Promise<GenerationOutcome> => {
      if (prompt.includes("overflow")) {
        throw new ContextLengthExceeded("the prompt has 999 tokens but the context holds 64", {
          promptTokens: 999,
          contextLength: 64,
        });
      }
      const pump = new BatchPump((b) => {
        this.batchesSent++;
        return onChunk(b);
      });
      const ids: number[] = [];
      let text = "";
      let finish: GenerationOutcome["finishReason"] = "length";
      let afterAbort = 0;
      for (let i = 0; i < params.maxTokens; i++) {
        if (i >= WORDS.length) {
          finish = "stop";
          break;
        }
        await new Promise((r) => setTimeout(r, this.tokenMs));
        if (controller.signal.aborted) afterAbort++;
        ids.push(i);
        text += WORDS[i];
        pump.push(i, WORDS[i]!, -0.25);
        if (controller.signal.aborted) {
          finish = "abort";
          break;
        }
      }
      await pump.drain();
      const outcome: GenerationOutcome = {
        requestId,
        text,
        finishReason: finish,
        promptTokens: prompt.length,
        completionTokens: ids.length,
        timings: { prefillMs: 1, decodeMs: ids.length, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 },
        tokensAfterAbort: afterAbort,
      };
      this.served++;
      this.last = outcome;
      return outcome;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result.finally(() => this.controllers.delete(requestId));
  }
}
