// The device probe's timing side (probe.ts): a small engine over random weights (or why this GPU
// refused it), decode steps timed from token arrivals, and the upload rate streaming would get.
import type { ModelConfig } from "./config.ts";
import { Engine, type LoadOptions, type residencyPlan } from "./engine/engine.ts";
import { Aborted, ModelFileError } from "./errors.ts";
import { linearBuffers } from "./model/linear.ts";
import { weightsFromPacked } from "./model/packed.ts";
import { layerBuffers, splitBytes } from "./model/streaming.ts";
import { Uploader } from "./model/upload.ts";
import type { ModelWeights } from "./model/weights.ts";
import { sentence } from "./probe-layout.ts";

/** Decode steps each engine runs at least, whatever the budget. */
const MIN_TOKENS = 2;
/** Most tokens per generate call (then it starts again from the prompt: decode at short context). */
const MAX_STEPS = 256;

/**
 * A resident engine over random weights, or why this GPU refused it: a GPU error while building (a
 * buffer or binding over a limit the layout did not foresee, out of memory) or the graph's own
 * refusal (RangeError / ModelFileError), as a sentence.
 */
export async function buildEngine(
  device: GPUDevice,
  config: ModelConfig,
  read: (group: string) => Promise<Uint8Array>,
  plan: ReturnType<typeof residencyPlan>,
  load: Pick<LoadOptions, "tune" | "activations">,
  /** 0..1 of the build: weights, then pipelines, then the warm-up */
  onStep: (part: number) => void,
): Promise<Engine | string> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let weights: ModelWeights | undefined;
  let engine: Engine | undefined;
  let failure: unknown;
  try {
    weights = await weightsFromPacked(device, config, "int4", read);
    onStep(0.25);
    engine = await Engine.fromWeights(device, config, weights, plan, {
      ...load,
      onProgress: (p) => {
        if (p.fraction === 1) onStep(p.phase === "compile" ? 0.6 : 1);
      },
    });
  } catch (e) {
    failure = e;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (!failure && !validation && !oom) return engine!;
  if (engine) engine.destroy();
  else if (weights) {
    const w = weights;
    for (const b of [w.embed, w.lmHead].flatMap(linearBuffers)) b.destroy();
    for (const b of [w.finalNorm, ...w.layers.flatMap(layerBuffers)]) b.destroy();
  }
  if (oom) return `This GPU ran out of memory for it (${oom.message || "out of memory"}).`;
  if (validation) return `This GPU refused its buffers: ${validation.message}`;
  if (failure instanceof RangeError || failure instanceof ModelFileError) return sentence(failure.message);
  throw failure;
}

/**
 * Greedy decode steps from a one-token prompt until `deadline` (at least MIN_TOKENS). A step's time is
 * the interval between consecutive tokens reaching the CPU: the token loop keeps steps queued ahead,
 * so in steady state that interval is what one step costs (GPU or host, whichever bounds it), and
 * neither the prompt's prefill nor the steps drained after the stop are counted. The first interval
 * of each call is left out too: it overlaps the end of the prefill (the queue is still filling).
 */
export async function timeDecode(
  engine: Engine,
  deadline: number,
  signal: AbortSignal | undefined,
  onStep: () => void,
): Promise<{ tokens: number; msPerToken: number }> {
  const prompt = [engine.config.bosTokenId ?? 0];
  let steps = 0;
  let ms = 0;
  const enough = (now: number) => steps >= MIN_TOKENS && now >= deadline;
  while (!enough(performance.now())) {
    if (signal?.aborted) throw new Aborted("the device probe was aborted");
    const stop = new AbortController();
    const abort = () => stop.abort();
    signal?.addEventListener("abort", abort, { once: true });
    let last: number | undefined;
    let seen = 0;
    try {
      await engine.generate(prompt, {
        maxTokens: MAX_STEPS,
        temperature: 0,
        ignoreEos: true,
        signal: stop.signal,
        onToken: () => {
          const now = performance.now();
          if (++seen > 2) {
            steps++;
            ms += now - last!;
            onStep();
          }
          last = now;
          if (enough(now)) stop.abort();
        },
      });
    } finally {
      signal?.removeEventListener("abort", abort);
    }
    if (signal?.aborted) throw new Aborted("the device probe was aborted");
  }
  return { tokens: steps, msPerToken: ms / steps };
}

/** Upload bytes/s into a layer's buffers through the staging ring (what streaming does every token), with the same bytes they hold. */
export async function uploadRate(
  engine: Engine,
  read: (group: string) => Promise<Uint8Array>,
): Promise<number> {
  const bufs = layerBuffers(engine.graph.weights.layers[0]!);
  const parts = splitBytes(
    await read("layer.0"),
    bufs.map((b) => b.size),
  )!;
  const up = new Uploader(engine.device);
  try {
    await engine.device.queue.onSubmittedWorkDone();
    const t = performance.now();
    let written = 0;
    let reps = 0;
    do {
      for (const [i, b] of bufs.entries()) await up.write(b, 0, parts[i]!);
      written += parts.reduce((n, p) => n + p.byteLength, 0);
      await up.done();
      reps++;
    } while (reps < 8 && performance.now() - t < 150);
    return written / ((performance.now() - t) / 1e3);
  } finally {
    up.destroy();
  }
}
