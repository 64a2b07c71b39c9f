// <wisp-chat>'s DOM-free parts in Node: the shared-engine registry (one createEngine per model, progress
// fanned out to every holder, delayed unload, failed loads forgotten) and the text helpers. The element
// itself runs in Chromium (e2e/tests/wisp-chat.spec.ts).
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CreateEngineOptions } from "../src/client/create.ts";
import type { WispEngine } from "../src/client/engine.ts";
import { EngineRegistry, modelKey } from "../src/element/registry.ts";
import { errorSentence, formatProgress, shortModelName } from "../src/element/wisp-chat.ts";
import { InvalidRequestError, WebGPUUnavailable } from "../src/errors.ts";
import * as sdk from "../src/index.ts";
import type { LoadProgress } from "../src/protocol.ts";

const BASE = "https://example.com/blog/post.html";

function fakeFactory() {
  const calls: CreateEngineOptions[] = [];
  const pending: Array<{ resolve: (e: WispEngine) => void; reject: (e: unknown) => void }> = [];
  const engines: Array<{ unload: ReturnType<typeof vi.fn> }> = [];
  const create = (options: CreateEngineOptions) => {
    calls.push(options);
    return new Promise<WispEngine>((resolve, reject) => pending.push({ resolve, reject }));
  };
  const finish = (i: number) => {
    const engine = { unload: vi.fn(async () => {}) };
    engines.push(engine);
    pending[i]!.resolve(engine as unknown as WispEngine);
    return engine;
  };
  return { calls, pending, engines, create, finish };
}

const progress = (phase: string, fraction: number): LoadProgress => ({
  phase,
  loaded: 0,
  total: 1,
  fraction,
});

afterEach(() => {
  vi.useRealTimers();
});

describe("EngineRegistry", () => {
  it("starts one engine per model, shared by every holder; other models get their own", async () => {
    const f = fakeFactory();
    const registry = new EngineRegistry({ create: f.create, base: () => BASE });
    const a = registry.acquire("org/model");
    const b = registry.acquire("org/model");
    const c = registry.acquire("other/model");
    expect(registry.created).toBe(2);
    expect(f.calls.map((o) => o.model)).toEqual(["org/model", "other/model"]);
    expect(a.engine).toBe(b.engine);
    expect(a.engine).not.toBe(c.engine);
    const engine = f.finish(0);
    expect(await a.engine).toBe(engine);
    expect(await b.engine).toBe(engine);
    expect(registry.keys()).toEqual(["hf:org/model", "hf:other/model"]);
  });

  it("shares by resolved model: relative and absolute URLs of one folder are one engine", () => {
    const f = fakeFactory();
    const registry = new EngineRegistry({ create: f.create, base: () => BASE });
    const a = registry.acquire("./models/m");
    const b = registry.acquire("/blog/models/m/");
    const c = registry.acquire("https://example.com/blog/models/m/");
    expect(registry.created).toBe(1);
    expect(new Set([a.key, b.key, c.key])).toEqual(new Set(["url:https://example.com/blog/models/m/"]));
    expect(modelKey("https://h/x/model.gguf", BASE)).toBe("url:https://h/x/model.gguf");
    expect(modelKey("not a model", BASE)).toBe("url:https://example.com/blog/not%20a%20model/");
    expect(modelKey("  ", BASE)).toBe("text:");
  });

  it("fans progress out to every holder; a late holder finds the latest on its lease; released holders stop hearing", () => {
    const f = fakeFactory();
    const registry = new EngineRegistry({ create: f.create });
    const seenA: number[] = [];
    const seenB: number[] = [];
    const a = registry.acquire("org/model", (p) => seenA.push(p.fraction));
    f.calls[0]!.onProgress!(progress("quantize", 0.25));
    const b = registry.acquire("org/model", (p) => seenB.push(p.fraction));
    expect(b.progress?.fraction).toBe(0.25);
    f.calls[0]!.onProgress!(progress("quantize", 0.5));
    a.release();
    f.calls[0]!.onProgress!(progress("compile", 1));
    expect(seenA).toEqual([0.25, 0.5]);
    expect(seenB).toEqual([0.5, 1]);
    expect(b.progress?.phase).toBe("compile");
  });

  it("unloads after the last release and a grace period; a claim within it keeps the engine", async () => {
    vi.useFakeTimers();
    const f = fakeFactory();
    const registry = new EngineRegistry({ create: f.create, releaseDelayMs: 1000 });
    const a = registry.acquire("org/model");
    const b = registry.acquire("org/model");
    const engine = f.finish(0);
    await a.engine;
    a.release();
    a.release(); // idempotent
    b.release();
    await vi.advanceTimersByTimeAsync(500);
    const c = registry.acquire("org/model"); // e.g. the element moved in the DOM
    await vi.advanceTimersByTimeAsync(5000);
    expect(engine.unload).not.toHaveBeenCalled();
    expect(registry.created).toBe(1);
    c.release();
    await vi.advanceTimersByTimeAsync(1000);
    expect(engine.unload).toHaveBeenCalledTimes(1);
    expect(registry.keys()).toEqual([]);
    registry.acquire("org/model");
    expect(registry.created).toBe(2);
  });

  it("a release while loading unloads once the load finishes", async () => {
    vi.useFakeTimers();
    const f = fakeFactory();
    const registry = new EngineRegistry({ create: f.create, releaseDelayMs: 10 });
    registry.acquire("org/model").release();
    await vi.advanceTimersByTimeAsync(20);
    expect(registry.keys()).toEqual([]);
    const engine = f.finish(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(engine.unload).toHaveBeenCalledTimes(1);
  });

  it("forgets a failed load, so the next claim tries again", async () => {
    const f = fakeFactory();
    const registry = new EngineRegistry({ create: f.create });
    const a = registry.acquire("org/model");
    f.pending[0]!.reject(new WebGPUUnavailable("no WebGPU"));
    await expect(a.engine).rejects.toThrow("no WebGPU");
    expect(registry.keys()).toEqual([]);
    registry.acquire("org/model");
    expect(registry.created).toBe(2);
    a.release(); // releasing a failed lease touches nothing
    expect(registry.keys()).toEqual(["hf:org/model"]);
  });
});

describe("<wisp-chat> text", () => {
  it("shows errors as sentences, never stacks", () => {
    const e = new WebGPUUnavailable("This browser has no WebGPU support — try Chrome 113+ on a desktop");
    expect(errorSentence(e)).toBe("This browser has no WebGPU support — try Chrome 113+ on a desktop.");
    expect(errorSentence(new InvalidRequestError("model is empty", "model"))).toBe("Model is empty.");
    expect(errorSentence(new TypeError("Failed to fetch"))).toBe("Something went wrong: Failed to fetch.");
    expect(errorSentence(undefined)).toBe("Something went wrong.");
    expect(errorSentence({ message: "" })).toBe("Something went wrong.");
    expect(errorSentence(new Error("x"))).not.toContain(" at ");
  });

  it("names models briefly and words load progress", () => {
    expect(shortModelName("HuggingFaceTB/SmolLM2-135M-Instruct")).toBe("HuggingFaceTB/SmolLM2-135M-Instruct");
    expect(shortModelName("/@fs/work/shared/models/stories260K/hf/")).toBe("stories260K/hf");
    expect(shortModelName("https://cdn.example/m/model.gguf?x=1")).toBe("m/model.gguf");
    expect(formatProgress(undefined)).toBe("Loading the model…");
    expect(formatProgress({ phase: "download", loaded: 5e5, total: 2e6, fraction: 0.25 })).toBe(
      "Downloading the weights: 0.5 of 2.0 MB",
    );
    expect(formatProgress(progress("compile", 0.5))).toBe("Compiling GPU kernels: 50%");
    expect(formatProgress(progress("novel", 1))).toBe("Loading (novel): 100%");
  });

  it("the SDK imports in Node: the element is exported, not defined (no DOM)", () => {
    expect(typeof sdk.WispChatElement).toBe("function");
    expect(sdk.defineWispChat()).toBe(false);
    expect(sdk.sharedEngines.created).toBe(0);
  });
});
