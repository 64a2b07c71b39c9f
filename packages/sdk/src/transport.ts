// Both ends of the worker boundary. The worker side exposes a backend with Comlink and turns every
// error into the runtime's plain SerializedError (structured clone and Comlink's default handler keep
// only name/message/stack, so `code` and the class would be lost); the main side rebuilds the typed
// error with toWispError. Callbacks are wrapped in Comlink.proxy here, so the rest of the SDK passes
// plain functions, and the worker releases each callback's port when its request is over.

import { serializeError, toWispError, WispError } from "@wisp/runtime";
import * as Comlink from "comlink";
import type { WispWorkerApi } from "./protocol.ts";

/** A backend as the client sees it: in-thread or across a worker. */
export interface BackendConnection {
  api: WispWorkerApi;
  /** Frees the backend (terminates the worker); idempotent. */
  close(): void;
}

export function inThreadConnection(backend: WispWorkerApi): BackendConnection {
  return { api: backend, close: () => {} };
}

function release(callback: unknown): void {
  const remote = callback as { [Comlink.releaseProxy]?: () => void } | undefined;
  try {
    remote?.[Comlink.releaseProxy]?.();
  } catch {
    // the main side is already gone
  }
}

async function guarded<T>(fn: () => Promise<T>, callback?: unknown): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw serializeError(e);
  } finally {
    release(callback);
  }
}

/** Worker side: serve `backend` on `endpoint` (the worker's global scope by default). */
export function exposeBackend(backend: WispWorkerApi, endpoint?: Comlink.Endpoint): void {
  const api: WispWorkerApi = {
    load: (request, onProgress) => guarded(() => backend.load(request, onProgress), onProgress),
    unload: () => guarded(() => backend.unload()),
    chatCompletion: (request, onChunk) => guarded(() => backend.chatCompletion(request, onChunk), onChunk),
    completion: (request, onChunk) => guarded(() => backend.completion(request, onChunk), onChunk),
    abort: (requestId) => guarded(() => backend.abort(requestId)),
    stats: () => guarded(() => backend.stats()),
    probe: (request, onProgress) => guarded(() => backend.probe(request, onProgress), onProgress),
  };
  Comlink.expose(api, endpoint);
}

/** Main side: a typed WispWorkerApi over a worker (or any MessagePort-like endpoint). */
export function connectEndpoint(
  endpoint: Comlink.Endpoint & { terminate?: () => void },
  options: { label?: string } = {},
): BackendConnection {
  const remote = Comlink.wrap<WispWorkerApi>(endpoint);
  let closed = false;
  // A worker that fails to start or dies never answers: pending calls are rejected instead of hanging.
  let fail: (e: WispError) => void = () => {};
  const dead = new Promise<never>((_, reject) => {
    fail = reject;
  });
  dead.catch(() => {});
  const onError = (event: Event) => {
    const detail = (event as ErrorEvent).message || "the script failed to load or threw at top level";
    fail(new WispError(`the Wisp worker${options.label ? ` (${options.label})` : ""} crashed: ${detail}`));
  };
  endpoint.addEventListener("error", onError as EventListener);

  const call = <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new WispError("the engine was unloaded; create a new one"));
    return Promise.race([fn(), dead]).catch((e: unknown) => {
      throw toWispError(e);
    });
  };
  const api: WispWorkerApi = {
    load: (request, onProgress) =>
      call(() => remote.load(request, onProgress ? Comlink.proxy(onProgress) : undefined)),
    unload: () => call(() => remote.unload()),
    chatCompletion: (request, onChunk) => call(() => remote.chatCompletion(request, Comlink.proxy(onChunk))),
    completion: (request, onChunk) => call(() => remote.completion(request, Comlink.proxy(onChunk))),
    abort: (requestId) => call(() => remote.abort(requestId)),
    stats: () => call(() => remote.stats()),
    probe: (request, onProgress) =>
      call(() => remote.probe(request, onProgress ? Comlink.proxy(onProgress) : undefined)),
  };
  return {
    api,
    close: () => {
      if (closed) return;
      closed = true;
      fail(new WispError("the engine was unloaded while a call was pending"));
      endpoint.removeEventListener("error", onError as EventListener);
      remote[Comlink.releaseProxy]();
      endpoint.terminate?.();
    },
  };
}
