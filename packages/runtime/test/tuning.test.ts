// Autotuning (model/tuning.ts): the tuner times candidate work splits of every decode GEMV within its
// budget, the choices are cached by adapter + shape, and an engine built with any choice decodes bit for
// bit what the untuned engine does (greedy ids and their log-probabilities, sampled ids). The last case
// forces the non-default candidate of every GEMV through a pre-filled cache, so the identity is tested
// on variants the SwiftShader timing might never pick.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nodeDevice } from "@wisp/gpu-test/node";
import { int4GemvCandidates } from "@wisp/kernels";
import { afterAll, describe, expect, it } from "vitest";
import { Engine, type LoadOptions } from "../src/engine/engine.ts";
import { folderSource } from "../src/loader/node-files.ts";
import { adapterKey, memoryTuneCache } from "../src/model/tuning.ts";
import { fileTuneCache } from "../src/store/tune-file.ts";
import { randomModel, tempDir, writeHfModel } from "./random-model.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const config = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_size: 128,
  intermediate_size: 344,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 300,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 256,
  tie_word_embeddings: false,
};
const prompt = [1, 17, 250, 3, 99, 42, 7];

async function outputs(e: Engine) {
  const greedy = await e.generate(prompt, { maxTokens: 20, temperature: 0, ignoreEos: true });
  const sampled = await e.generate(prompt, {
    maxTokens: 16,
    temperature: 0.9,
    topK: 30,
    seed: 11,
    ignoreEos: true,
  });
  return { ids: greedy.ids, logprobs: greedy.logprobs, sampled: sampled.ids };
}

describe("autotuning", () => {
  it("tunes within budget, caches the choices, and never changes a token or log-probability", async () => {
    const { device } = await nodeDevice();
    const dir = writeHfModel(randomModel(config, 41, "F32"), tempDir("tune"));
    dirs.push(dir);
    const load = (opts: Partial<LoadOptions>) =>
      Engine.load(device, folderSource(dir), { contextLength: 64, requireTokenizer: false, ...opts });

    const ref = await load({});
    expect(ref.tuning).toBeUndefined();
    const want = await outputs(ref);
    ref.destroy();

    // First load: every GEMV shape timed (qkv+norm, o+residual, gate_up+norm, down+swiglu+residual).
    const cache = memoryTuneCache();
    const budgetMs = 6000; // on SwiftShader a shape or two gets timed; the default budget is 2 s
    const t0 = performance.now();
    const tuned = await load({ tune: { cache, budgetMs } });
    const r = tuned.tuning!;
    expect(r.reports.map((x) => x.key.split(" ").slice(1).join(" ")).sort()).toEqual(
      ["m1 n128 k128 r", "m1 n128 k344 sr", "m1 n256 k128 n", "m1 n688 k128 n"].sort(),
    );
    for (const x of r.reports) {
      expect(x.fromCache).toBe(false);
      if (x.timed) expect(x.chosenUs).toBeLessThanOrEqual(x.defaultUs!);
    }
    expect(r.reports[0]!.timed).toBeGreaterThanOrEqual(1);
    expect(r.ms).toBeLessThan(budgetMs + 5000);
    expect(tuned.loadTimings.tuneMs).toBeLessThan(performance.now() - t0);
    // Only complete comparisons persist (a shape cut short by the budget is timed again next load).
    const adapter = adapterKey(device);
    const candidatesOf = (key: string) => {
      const [, m, n, k, f] = /m(\d+) n(\d+) k(\d+)(?: (\w+))?/.exec(key)!;
      const dummy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
      return int4GemvCandidates(
        device,
        { m: Number(m), n: Number(n), k: Number(k) },
        {
          ...(f?.includes("n") ? { norm: { weight: dummy, eps: 1e-5 } } : {}),
          swiglu: f?.includes("s") ?? false,
          residual: f?.includes("r") ?? false,
        },
      );
    };
    const complete = r.reports.filter((x) => x.timed === candidatesOf(x.key).length);
    expect([...cache.entries.keys()].sort()).toEqual(complete.map((x) => `${adapter}|${x.key}`).sort());
    expect(await outputs(tuned)).toEqual(want);
    tuned.destroy();
    console.log(
      `tuning on ${adapterKey(device)}: ${r.ms.toFixed(0)} ms; ${r.reports
        .map((x) => `${x.key}: ${x.timed} timed, ${x.defaultUs?.toFixed(1)} → ${x.chosenUs?.toFixed(1)} µs`)
        .join("; ")}`,
    );

    // Second load with the cache: the complete choices are read, not timed.
    const before = new Set(cache.entries.keys());
    const again = await load({ tune: { cache, budgetMs } });
    for (const x of again.tuning!.reports) {
      expect(x.fromCache).toBe(before.has(`${adapter}|${x.key}`));
      if (x.fromCache) expect(x.timed).toBe(0);
    }
    again.destroy();

    // Every GEMV forced to its last (non-default) candidate: still bit for bit.
    const forced = memoryTuneCache();
    for (const x of r.reports) {
      const cands = candidatesOf(x.key);
      expect(cands.length).toBeGreaterThan(1);
      await forced.set(`${adapter}|${x.key}`, cands[cands.length - 1]!);
    }
    const other = await load({ tune: { cache: forced, budgetMs } });
    const chosen = other.tuning!.reports;
    expect(chosen.every((x) => x.fromCache)).toBe(true);
    expect(await outputs(other)).toEqual(want);
    other.destroy();
  }, 600_000);

  it("the Node file cache persists choices and survives a corrupt file", async () => {
    const dir = tempDir("tunefile");
    dirs.push(dir);
    const path = join(dir, "sub", "tuning.json");
    const v = { tk: 32, tr: 4, unroll: 2, chunk: 0 };
    await fileTuneCache(path).set("a|int4_gemv.v1 m1 n8 k8", v);
    expect(await fileTuneCache(path).get("a|int4_gemv.v1 m1 n8 k8")).toEqual(v);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ "a|int4_gemv.v1 m1 n8 k8": v });
    writeFileSync(path, "{not json");
    const c = fileTuneCache(path);
    expect(await c.get("a|int4_gemv.v1 m1 n8 k8")).toBeUndefined();
    await c.set("b", v);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ b: v });
  });
});
