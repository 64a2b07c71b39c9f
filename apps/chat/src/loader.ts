// Loading a model with a Cancel that really stops it: createEngine's `signal` terminates the SDK's
// worker, so the download, quantization and GPU memory end with it. A load that finishes anyway
// after Cancel is unloaded at once.
import { type CreateEngineOptions, createEngine, type LoadProgress, type WispEngine } from "@wisp/sdk";

export interface ModelLoad {
  /** Settles with the engine, rejects with the SDK's typed error, or never settles once cancelled. */
  readonly engine: Promise<WispEngine>;
  readonly cancelled: boolean;
  cancel(): void;
}

export function loadModel(
  options: Omit<CreateEngineOptions, "onProgress" | "signal">,
  onProgress: (p: LoadProgress) => void,
): ModelLoad {
  const controller = new AbortController();
  const cancelled = () => controller.signal.aborted;
  const promise = createEngine({
    ...options,
    signal: controller.signal,
    onProgress: (p) => {
      if (!cancelled()) onProgress(p);
    },
  });
  const engine = new Promise<WispEngine>((resolve, reject) => {
    promise.then(
      (e) => {
        if (cancelled()) void e.unload().catch(() => {});
        else resolve(e);
      },
      (error: unknown) => {
        if (!cancelled()) reject(error);
      },
    );
  });
  return {
    engine,
    get cancelled() {
      return cancelled();
    },
    cancel() {
      controller.abort();
    },
  };
}
