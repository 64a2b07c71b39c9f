// "Test my device" in the model picker: before a download, the SDK's probeDevice runs a few seconds of
// the real kernels at a catalog model's shapes (its config.json from models.json, random weights; no
// request for the model's files) and answers with an estimated decode speed and whether the model
// fits. One test at a time (two would slow each other down); Cancel ends its worker at once.
import { type Activations, type DeviceProbe, type ProbeProgress, probeDevice } from "@wisp/sdk";
import type { CatalogEntry, FitLevel } from "./catalog.ts";
import { h } from "./dom.ts";
import { type Explained, explain } from "./errors.ts";
import { formatRate } from "./format.ts";

interface DeviceTest {
  status: "running" | "done" | "error";
  progress: ProbeProgress;
  result?: DeviceProbe;
  error?: Explained;
  controller: AbortController;
}

const PHASES: Record<ProbeProgress["phase"], string> = {
  config: "Reading the model's shapes",
  layout: "Planning GPU memory",
  build: "Building kernels with random weights",
  measure: "Timing decode steps",
  done: "Done",
};

const VERDICTS: Record<DeviceProbe["verdict"], { label: string; level: FitLevel }> = {
  fits: { label: "fits", level: "ok" },
  streaming: { label: "needs streaming", level: "tight" },
  "too-large": { label: "does not fit", level: "no" },
};

/** The result as two lines: "≈ 12.3 tok/s on this device · fits", then why. Pure (unit-tested). */
export function probeSummary(r: DeviceProbe): { headline: string; detail: string; level: FitLevel } {
  const { label, level } = VERDICTS[r.verdict];
  const headline =
    r.decodeTokS === null
      ? "Does not fit on this device"
      : `≈ ${formatRate(r.decodeTokS)} tok/s on this device · ${label}`;
  return { headline, detail: r.reason, level };
}

export class DeviceTests {
  private readonly tests = new Map<string, DeviceTest>();

  constructor(
    /** Called with the model's id when its test starts, ends or is cancelled (the catalog re-renders). */
    private readonly changed: (id: string) => void,
    /** Time the probe spends timing decode steps, ms. */
    private readonly budgetMs: number,
  ) {}

  get running(): boolean {
    return [...this.tests.values()].some((t) => t.status === "running");
  }

  start(entry: CatalogEntry, contextLength: number, activations: Activations = "f32"): void {
    if (this.running) return;
    const test: DeviceTest = {
      status: "running",
      progress: { phase: "config", fraction: 0 },
      controller: new AbortController(),
    };
    this.tests.set(entry.id, test);
    const current = () => this.tests.get(entry.id) === test;
    probeDevice({
      config: entry.configJson,
      contextLength,
      activations,
      budgetMs: this.budgetMs,
      signal: test.controller.signal,
      onProgress: (p) => {
        if (!current()) return;
        test.progress = p;
        this.paintProgress(entry.id, test);
      },
    }).then(
      (result) => {
        if (!current()) return;
        test.status = "done";
        test.result = result;
        this.changed(entry.id);
      },
      (error: unknown) => {
        if (!current()) return;
        test.status = "error";
        test.error = explain(error);
        this.changed(entry.id);
      },
    );
    this.changed(entry.id);
  }

  cancel(id: string): void {
    const test = this.tests.get(id);
    if (!test) return;
    test.controller.abort();
    this.tests.delete(id);
    this.changed(id);
  }

  /** The card's test button and, once a test ran or runs, its status block. */
  view(
    entry: CatalogEntry,
    contextLength: number,
    noWebGpu: boolean,
    activations: Activations = "f32",
  ): { button: HTMLElement; status?: HTMLElement } {
    const test = this.tests.get(entry.id);
    const running = test?.status === "running";
    const button = h(
      "button",
      {
        type: "button",
        class: "btn btn-small probe-button",
        "aria-label": running
          ? `Cancel the device test for ${entry.name}`
          : `Test my device for ${entry.name}`,
        disabled: noWebGpu || (!running && this.running),
        title: running
          ? undefined
          : "A few seconds of the real GPU kernels at this model's size, before any download",
      },
      running ? "Cancel test" : test ? "Test again" : "Test my device",
    );
    button.addEventListener("click", () => {
      if (running) this.cancel(entry.id);
      else this.start(entry, contextLength, activations);
    });
    if (!test) return { button };
    return { button, status: this.statusBlock(entry, test) };
  }

  private statusBlock(entry: CatalogEntry, test: DeviceTest): HTMLElement {
    const box = h("div", { class: "probe", "data-state": test.status, "aria-live": "polite" });
    if (test.status === "running") {
      const label = `probe-${entry.id}-label`;
      box.append(
        h("span", { class: "probe-line", id: label }, this.progressText(test)),
        h("progress", { max: 1, value: test.progress.fraction, "aria-labelledby": label }),
      );
    } else if (test.status === "done" && test.result) {
      const s = probeSummary(test.result);
      box.dataset["level"] = s.level;
      box.append(
        h(
          "p",
          { class: "probe-result", title: `${test.result.method} (${test.result.adapter})` },
          h("span", { class: "fit-dot", "aria-hidden": "true" }),
          h("strong", {}, s.headline),
        ),
        h("p", { class: "probe-detail" }, s.detail),
      );
    } else if (test.error) {
      box.dataset["level"] = "no";
      box.append(h("p", { class: "probe-detail", role: "alert" }, `The test failed: ${test.error.sentence}`));
    }
    return box;
  }

  private progressText(test: DeviceTest): string {
    return `${PHASES[test.progress.phase]}… ${Math.round(test.progress.fraction * 100)}%`;
  }

  /** Progress without re-rendering the catalog (focus and scroll stay where they are). */
  private paintProgress(id: string, test: DeviceTest): void {
    const box = document.querySelector(`[data-model-id="${CSS.escape(id)}"] .probe[data-state="running"]`);
    if (!box) return;
    box.querySelector(".probe-line")!.textContent = this.progressText(test);
    box.querySelector("progress")!.value = test.progress.fraction;
  }
}
