// @wisp/runtime on Chromium's WebGPU: loads a model from a URL (?model=<base url>), generates greedily
// and streams the text into the page. Playwright reads window.__wispRuntime. (In the product the
// engine runs in a Web Worker behind the SDK; this page proves the runtime itself in a browser.)
import { acquireDevice } from "@wisp/gpu-test";
import { Engine, urlSource } from "@wisp/runtime";

declare global {
  interface Window {
    __wispRuntime?: {
      done: boolean;
      error?: string;
      ids?: number[];
      text?: string;
      tokensPerSecond?: number;
    };
  }
}

const params = new URLSearchParams(location.search);
const state: NonNullable<Window["__wispRuntime"]> = { done: false };
window.__wispRuntime = state;
const status = document.getElementById("status")!;
const out = document.getElementById("out")!;

async function main(): Promise<void> {
  const { device } = await acquireDevice(navigator.gpu, "Chromium");
  const base = new URL(params.get("model") ?? "", location.href).href;
  const engine = await Engine.load(device, urlSource(base), {
    quant: (params.get("quant") as "int4" | "f32" | null) ?? "int4",
    onProgress: (p) => {
      status.textContent = `${p.phase} ${(p.fraction * 100).toFixed(0)}%`;
    },
  });
  const prompt = params.get("prompt") ?? "";
  const r = await engine.generate(engine.tokenizer!.encode(prompt), {
    maxTokens: Number(params.get("maxTokens") ?? 64),
    temperature: 0,
    onToken: (t) => {
      out.textContent += t.text;
    },
  });
  status.textContent = `${r.usage.completionTokens} tokens, ${r.timings.decodeTokensPerSecond.toFixed(1)} tok/s (${r.finishReason})`;
  Object.assign(state, { ids: r.ids, text: r.text, tokensPerSecond: r.timings.decodeTokensPerSecond });
}

main()
  .catch((e: unknown) => {
    state.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    status.textContent = state.error;
  })
  .finally(() => {
    state.done = true;
  });
