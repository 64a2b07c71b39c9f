// One engine per model on the page: every <wisp-chat> naming the same model shares one createEngine
// promise (one worker, one copy of the weights on the GPU). Entries are reference-counted; the last
// release unloads the engine after a grace period, so moving an element in the DOM (disconnect, then
// connect again) or switching a model back and forth does not reload anything. DOM-free, so Node
// tests drive it with a fake factory.
import type { CreateEngineOptions } from "../client/create.ts";
import type { WispEngine } from "../client/engine.ts";
import { resolveModel } from "../client/model.ts";
import type { LoadProgress } from "../protocol.ts";

/** Starts an engine: `createEngine` in the browser, a fake in tests. */
export type EngineFactory = (options: CreateEngineOptions) => Promise<WispEngine>;

/** One holder's claim on a shared engine. `release()` once when done (idempotent). */
export interface EngineLease {
  /** The model string as the holder gave it. */
  readonly model: string;
  /** The key the engine is shared under (the resolved model: hub id, or absolute folder / .gguf URL). */
  readonly key: string;
  /** Settles when the shared engine has loaded (or failed to). */
  readonly engine: Promise<WispEngine>;
  /** The latest load progress of the shared engine, if any arrived. */
  readonly progress: LoadProgress | undefined;
  release(): void;
}

export interface EngineRegistryOptions {
  /** Default: the SDK's `createEngine`, given `{ model }` plus `engineOptions`. */
  create: EngineFactory;
  /** Extra createEngine options for every engine (quant, contextLength, workerUrl). */
  engineOptions?: Omit<CreateEngineOptions, "model" | "onProgress">;
  /** How long an engine nobody holds stays loaded before it is unloaded (ms, default 2000). */
  releaseDelayMs?: number;
  /** The base relative model URLs resolve against (default: the page's URL). */
  base?: () => string;
}

interface Entry {
  readonly key: string;
  readonly engine: Promise<WispEngine>;
  holders: number;
  progress: LoadProgress | undefined;
  readonly listeners: Set<(p: LoadProgress) => void>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The key two model strings share an engine under: "./m/" and "/page/m/" on /page/ are one model. */
export function modelKey(model: string, base: string): string {
  try {
    const { spec } = resolveModel(model, base);
    if (spec.kind === "hf") return `hf:${spec.id}`;
    if (spec.kind === "url") return `url:${spec.url}${spec.ggufFile ?? ""}`;
  } catch {
    // Not resolvable: createEngine will reject with the reason; share the failure under the text.
  }
  return `text:${model.trim()}`;
}

export class EngineRegistry {
  private readonly entries = new Map<string, Entry>();
  private loads = 0;
  private readonly releaseDelayMs: number;

  constructor(private readonly options: EngineRegistryOptions) {
    this.releaseDelayMs = options.releaseDelayMs ?? 2000;
  }

  /** How many engines this registry has started (createEngine calls) since the page loaded. */
  get created(): number {
    return this.loads;
  }

  /** The keys of the engines held or loading now. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Claims the engine for `model`, starting it if nobody holds it. `onProgress` receives the shared
   * load's progress from now on (never synchronously); what arrived before is `lease.progress`.
   */
  acquire(model: string, onProgress?: (p: LoadProgress) => void): EngineLease {
    const key = modelKey(model, this.options.base?.() ?? globalThis.location?.href ?? "");
    let entry = this.entries.get(key);
    if (!entry) entry = this.start(key, model);
    if (entry.timer !== undefined) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    entry.holders++;
    const listener = onProgress;
    if (listener) entry.listeners.add(listener);
    const held = entry;
    let released = false;
    return {
      model,
      key,
      engine: held.engine,
      get progress() {
        return held.progress;
      },
      release: () => {
        if (released) return;
        released = true;
        if (listener) held.listeners.delete(listener);
        this.release(held);
      },
    };
  }

  private start(key: string, model: string): Entry {
    this.loads++;
    const listeners = new Set<(p: LoadProgress) => void>();
    let entry: Entry | undefined;
    const engine = this.options.create({
      ...this.options.engineOptions,
      model,
      onProgress: (p) => {
        if (entry) entry.progress = p;
        for (const l of [...listeners]) {
          try {
            l(p);
          } catch {}
        }
      },
    });
    entry = { key, engine, holders: 0, progress: undefined, listeners, timer: undefined };
    this.entries.set(key, entry);
    const started = entry;
    // A failed load is forgotten at once, so the next claim (a retry, another element) starts afresh.
    engine.catch(() => {
      if (this.entries.get(key) === started) this.entries.delete(key);
    });
    return entry;
  }

  private release(entry: Entry): void {
    entry.holders--;
    if (entry.holders > 0 || this.entries.get(entry.key) !== entry) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (entry.holders > 0 || this.entries.get(entry.key) !== entry) return;
      this.entries.delete(entry.key);
      entry.engine.then((e) => e.unload()).catch(() => {});
    }, this.releaseDelayMs);
  }
}
