// Loading a model with a Cancel that really stops it. createEngine has no abort option, so the app
// keeps hold of the Web Worker the SDK starts for this load (createEngine constructs it synchronously,
// before its first await) and terminates it on Cancel: the download, quantization and GPU memory end
// with it. A load that finishes anyway after Cancel is unloaded at once.
import { type CreateEngineOptions, createEngine, type LoadProgress, type WispEngine } from "@wisp/sdk";

export interface ModelLoad {
  /** Settles with the engine, rejects with the SDK's typed error, or never settles once cancelled. */
  readonly engine: Promise<WispEngine>;
  readonly cancelled: boolean;
  cancel(): void;
}

type WorkerCtor = typeof Worker;

/** Runs `start` and returns the workers it constructed synchronously. */
function capturingWorkers<T>(start: () => T): { value: T; workers: Worker[] } {
  const workers: Worker[] = [];
  const Original = globalThis.Worker as WorkerCtor | undefined;
  if (!Original) return { value: start(), workers };
  const Capturing = class extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      workers.push(this);
    }
  };
  globalThis.Worker = Capturing as WorkerCtor;
  try {
    return { value: start(), workers };
  } finally {
    globalThis.Worker = Original;
  }
}

export function loadModel(
  options: Omit<CreateEngineOptions, "onProgress">,
  onProgress: (p: LoadProgress) => void,
): ModelLoad {
  let cancelled = false;
  const { value: promise, workers } = capturingWorkers(() =>
    createEngine({
      ...options,
      onProgress: (p) => {
        if (!cancelled) onProgress(p);
      },
    }),
  );
  const engine = new Promise<WispEngine>((resolve, reject) => {
    promise.then(
      (e) => {
        if (cancelled) void e.unload().catch(() => {});
        else resolve(e);
      },
      (error: unknown) => {
        if (!cancelled) reject(error);
      },
    );
  });
  return {
    engine,
    get cancelled() {
      return cancelled;
    },
    cancel() {
      if (cancelled) return;
      cancelled = true;
      for (const w of workers) w.terminate();
    },
  };
}
