// @wisp/sdk: the main-thread API. `createEngine` starts a module worker that runs the runtime and
// returns an engine with OpenAI-style `chat.completions.create` / `completions.create`. Nothing here
// touches the GPU; the worker does.

import { defineWispChat } from "./element/index.ts";

export {
  cachedModelId,
  clearCache,
  deleteCachedModel,
  listCachedModels,
  requestPersistentStorage,
  storageEstimate,
} from "./cache/page.ts";
export { type CreateEngineOptions, createEngine } from "./client/create.ts";
export type {
  ChatCompletionStream,
  ChatCompletions,
  CompletionStream,
  Completions,
} from "./client/engine.ts";
export { WispEngine } from "./client/engine.ts";
export { type ModelInput, resolveModel } from "./client/model.ts";
export { type ProbeDeviceOptions, probeDevice } from "./client/probe.ts";
export { ChunkStream } from "./client/stream.ts";
export {
  DEFAULT_MAX_TOKENS,
  DEFAULT_TEMPERATURE,
  defineWispChat,
  type EngineLease,
  EngineRegistry,
  errorSentence,
  sharedEngines,
  WispChatElement,
  type WispChatReplyDetail,
  type WispChatState,
} from "./element/index.ts";
export * from "./errors.ts";
export type * from "./openai/types.ts";
export type * from "./protocol.ts";
export { type BackendConnection, connectEndpoint, exposeBackend, inThreadConnection } from "./transport.ts";

// <wisp-chat> is defined as soon as the SDK loads in a browser (a no-op in Node, in workers, or when
// another copy of the SDK defined it first).
defineWispChat();

/** The SDK's version (the workspace is unpublished: 0.0.0). */
export const VERSION = "0.0.0";
