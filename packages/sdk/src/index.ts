// @wisp/sdk: the main-thread API. `createEngine` starts a module worker that runs the runtime and
// returns an engine with OpenAI-style `chat.completions.create` / `completions.create`. Nothing here
// touches the GPU; the worker does.

export { type CreateEngineOptions, createEngine } from "./client/create.ts";
export type {
  ChatCompletionStream,
  ChatCompletions,
  CompletionStream,
  Completions,
} from "./client/engine.ts";
export { WispEngine } from "./client/engine.ts";
export { type ModelInput, resolveModel } from "./client/model.ts";
export { ChunkStream } from "./client/stream.ts";
export * from "./errors.ts";
export type * from "./openai/types.ts";
export type * from "./protocol.ts";
export { type BackendConnection, connectEndpoint, exposeBackend, inThreadConnection } from "./transport.ts";

/** The SDK's version (the workspace is unpublished: 0.0.0). */
export const VERSION = "0.0.0";
