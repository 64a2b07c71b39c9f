// Runs the kernel cases marked `smoke` inside the browser: the same case code as the Node tests,
// on Chromium's own WebGPU, inside error scopes. Results land in window.__wispSmoke for Playwright.
import { acquireDevice, withErrorScopes } from "@wisp/gpu-test";
import type { KernelCase } from "../../kernels/test/case.ts";

interface SmokeResult {
  name: string;
  ok: boolean;
  detail: string;
}
declare global {
  interface Window {
    __wispSmoke?: { done: boolean; error?: string; adapter?: string; results: SmokeResult[] };
  }
}

const modules = import.meta.glob<Record<string, unknown>>("../../kernels/test/cases/*.ts", { eager: true });
const isCase = (v: unknown): v is KernelCase =>
  typeof v === "object" && v !== null && "run" in v && "name" in v;
const smokeCases = Object.values(modules)
  .flatMap((m) => Object.values(m).flatMap((v) => (Array.isArray(v) ? v.filter(isCase) : [])))
  .filter((c) => c.smoke);

const state: NonNullable<Window["__wispSmoke"]> = { done: false, results: [] };
window.__wispSmoke = state;
const list = document.getElementById("results")!;

async function main(): Promise<void> {
  const { device, adapterInfo } = await acquireDevice(navigator.gpu, "Chromium");
  state.adapter = `${adapterInfo.vendor} ${adapterInfo.architecture} ${adapterInfo.description}`;
  document.getElementById("adapter")!.textContent = `adapter: ${state.adapter}`;
  for (const c of smokeCases) {
    let result: SmokeResult;
    try {
      const detail = await withErrorScopes(device, () => c.run(device));
      result = { name: c.name, ok: true, detail: detail ?? "" };
    } catch (e) {
      result = { name: c.name, ok: false, detail: e instanceof Error ? e.message : String(e) };
    }
    state.results.push(result);
    const li = document.createElement("li");
    li.className = result.ok ? "pass" : "fail";
    li.innerHTML = `${result.name} <code></code>`;
    li.querySelector("code")!.textContent = result.detail;
    list.append(li);
  }
  const failed = state.results.filter((r) => !r.ok).length;
  document.getElementById("summary")!.textContent =
    `${state.results.length - failed} passed, ${failed} failed`;
}

main()
  .catch((e: unknown) => {
    state.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    document.getElementById("adapter")!.textContent = state.error;
  })
  .finally(() => {
    state.done = true;
  });
