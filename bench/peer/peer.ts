// The peer bench: onnxruntime-web 1.30 (what transformers.js runs on), JSEP and native WebGPU EPs, in
// Node on Dawn, decoding synthetic Llama models of the real shapes (model.ts). Per EP and shape:
//   cold start (a fresh child process: ORT import + model read + session create + first run of the
//   prompt to the first token), prefill tok/s (prompt tokens, empty KV cache), decode tok/s at
//   context --ctx (KV cache carried between runs as GPU buffers when ORT allows, greedy argmax of the
//   last position's logits on the CPU, as transformers.js does).
// Prints a compact table; writes $OUT/peer-bench.json when OUT is set. See README.md.
//   node peer.mjs [--shape llama-3.2-1b,tiny] [--ep jsep,webgpu] [--layers N] [--check] ...
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { InferenceSession, Tensor } from "onnxruntime-web";
import { cachedModel, decodeWeightBytes, generate, type Manifest, SHAPES, type Shape } from "./model.ts";
import { EPS, type Ep, loadOrt, ORT_VERSION, unpackOrt, wasmHeapBytes } from "./ort.ts";
import { referenceDecoder, relError } from "./reference.ts";

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;

// ---------------------------------------------------------------- options
interface Options {
  shapes: string[];
  eps: Ep[];
  layers?: number;
  prompt: number;
  ctx: number;
  steps: number;
  warmup: number;
  prefillReps: number;
  lastLogits: boolean;
  kv: "gpu" | "cpu";
  check: boolean;
  createOnly: boolean;
  dir: string;
  ortDir: string;
  budgetS: number;
}

function parseOptions(argv: string[]): Options {
  const get = (k: string): string | undefined => {
    const i = argv.indexOf(`--${k}`);
    return i < 0 ? undefined : argv[i + 1];
  };
  const num = (k: string, d: number) => Number(get(k) ?? d);
  const o: Options = {
    shapes: (get("shape") ?? "llama-3.2-1b").split(","),
    eps: (get("ep") ?? EPS.join(",")).split(",") as Ep[],
    prompt: num("prompt", 512),
    ctx: num("ctx", 128),
    steps: num("steps", 64),
    warmup: num("warmup", 8),
    prefillReps: num("prefill-reps", 3),
    lastLogits: !argv.includes("--all-logits"),
    kv: argv.includes("--cpu-kv") ? "cpu" : "gpu",
    check: argv.includes("--check"),
    createOnly: argv.includes("--create-only"),
    dir: get("dir") ?? join(tmpdir(), "wisp-peer-models"),
    ortDir: get("ort") ?? join(here, "ort"),
    budgetS: num("budget-s", 570),
  };
  if (get("layers") !== undefined) o.layers = num("layers", 0);
  for (const s of o.shapes)
    if (!SHAPES[s]) throw new Error(`unknown shape ${s} (${Object.keys(SHAPES).join(", ")})`);
  for (const e of o.eps) if (!EPS.includes(e)) throw new Error(`unknown ep ${e} (${EPS.join(", ")})`);
  if (o.warmup >= o.ctx) throw new Error("--warmup must be below --ctx");
  return o;
}

// ---------------------------------------------------------------- child: one EP, one model
interface ChildConfig {
  ep: Ep;
  ortDir: string;
  modelDir: string;
  prompt: number;
  ctx: number;
  steps: number;
  warmup: number;
  prefillReps: number;
  kv: "gpu" | "cpu";
  check?: { prompt: number[]; next: number[] };
  createOnly?: boolean;
}

type Record_ = Record<string, unknown>;
const report = (r: Record_) => process.stdout.write(`@@peer ${JSON.stringify(r)}\n`);
const ms = (t: number) => Math.round(t * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randomTokens = (n: number, vocab: number, seed: number) => {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (vocab - 3)));
};

function readWhole(path: string): Uint8Array {
  const out = new Uint8Array(statSync(path).size);
  const fd = openSync(path, "r");
  for (let at = 0; at < out.length; ) at += readSync(fd, out, at, Math.min(out.length - at, 1 << 30), at);
  return out;
}

async function child(cfg: ChildConfig): Promise<void> {
  const r: Record_ = { ep: cfg.ep };
  const t0 = performance.now();
  const { ort, adapter } = await loadOrt(cfg.ortDir, cfg.ep);
  r.importMs = ms(performance.now() - t0);
  report({ adapter, importMs: r.importMs, ortVersion: ort.env.versions });

  const m = JSON.parse(readFileSync(join(cfg.modelDir, "manifest.json"), "utf8")) as Manifest;
  const { layers, kvHeads, headDim, vocab } = m.shape;
  let t = performance.now();
  const model = readWhole(join(cfg.modelDir, m.model));
  const externalData = m.dataFiles.map((f) => ({ path: f, data: readWhole(join(cfg.modelDir, f)) }));
  report({ readMs: ms(performance.now() - t) });

  const presentNames = Array.from({ length: layers }, (_, l) => [
    `present.${l}.key`,
    `present.${l}.value`,
  ]).flat();
  const create = (gpuKv: boolean) =>
    ort.InferenceSession.create(model, {
      executionProviders: ["webgpu"],
      graphOptimizationLevel: "all",
      externalData,
      ...(gpuKv
        ? { preferredOutputLocation: Object.fromEntries(presentNames.map((n) => [n, "gpu-buffer"])) }
        : {}),
    } as InferenceSession.SessionOptions);
  t = performance.now();
  let session: InferenceSession;
  let kvLocation = cfg.kv;
  try {
    session = await create(cfg.kv === "gpu");
  } catch (e) {
    if (cfg.kv !== "gpu") throw e;
    report({ kvFallback: String(e).slice(0, 300) });
    kvLocation = "cpu";
    session = await create(false);
  }
  report({ createMs: ms(performance.now() - t), heapMiB: Math.round(wasmHeapBytes() / MiB), kvLocation });
  externalData.length = 0;
  if (cfg.createOnly) {
    await session.release();
    report({ done: true });
    return;
  }

  const empty = () =>
    Object.fromEntries(
      presentNames.map((n) => [
        n.replace("present", "past_key_values"),
        new ort.Tensor("float32", new Float32Array(0), [1, kvHeads, 0, headDim]),
      ]),
    );
  const inputNames = new Set(session.inputNames);
  /** Feeds `tokens` after `past` (of `pastLen` positions); returns the last position's logits and
   * the new cache. The previous cache's GPU buffers are released. */
  const step = async (tokens: number[], past: Record<string, Tensor>, pastLen: number) => {
    const total = pastLen + tokens.length;
    const feeds: Record<string, Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(total).fill(1n), [1, total]),
      ...past,
    };
    if (inputNames.has("position_ids")) {
      const pos = BigInt64Array.from(tokens, (_, i) => BigInt(pastLen + i));
      feeds.position_ids = new ort.Tensor("int64", pos, [1, tokens.length]);
    }
    const out = await session.run(feeds);
    const logitsT = out.logits!;
    const all = (await logitsT.getData()) as Float32Array;
    const logits = all.subarray(all.length - vocab);
    let best = 0;
    for (let i = 1; i < vocab; i++) if (logits[i]! > logits[best]!) best = i;
    for (const v of Object.values(past)) if (v.location === "gpu-buffer") v.dispose();
    const next: Record<string, Tensor> = {};
    for (const n of presentNames) next[n.replace("present", "past_key_values")] = out[n]!;
    return { token: best, logits, past: next, len: total };
  };
  const release = (past: Record<string, Tensor>) => {
    for (const v of Object.values(past)) if (v.location === "gpu-buffer") v.dispose();
  };

  // Cold start: the first run of the prompt, to its first token.
  const prompt = randomTokens(cfg.prompt, vocab, 1);
  t = performance.now();
  let s = await step(prompt, empty(), 0);
  const firstRunMs = performance.now() - t;
  report({
    firstRunMs: ms(firstRunMs),
    coldMs: ms(performance.now()),
    finite: s.logits.every(Number.isFinite),
  });
  t = performance.now();
  const d = await step([s.token], s.past, s.len);
  report({ firstDecodeMs: ms(performance.now() - t) });
  release(d.past);

  // Prefill: the prompt with an empty cache, warm.
  const prefill: number[] = [];
  for (let i = 0; i < cfg.prefillReps; i++) {
    t = performance.now();
    s = await step(prompt, empty(), 0);
    prefill.push(performance.now() - t);
    release(s.past);
  }
  report({ prefillMs: ms(median(prefill)), prefillTokS: Math.round((cfg.prompt * 1000) / median(prefill)) });

  // Decode at context ctx: prefill ctx - warmup tokens, warmup steps, then `steps` timed steps.
  s = await step(randomTokens(cfg.ctx - cfg.warmup, vocab, 2), empty(), 0);
  for (let i = 0; i < cfg.warmup; i++) s = await step([s.token], s.past, s.len);
  const per: number[] = [];
  const tDecode = performance.now();
  for (let i = 0; i < cfg.steps; i++) {
    t = performance.now();
    s = await step([s.token], s.past, s.len);
    per.push(performance.now() - t);
  }
  const decodeMs = performance.now() - tDecode;
  release(s.past);
  report({
    decodeTokS: Math.round(((cfg.steps * 1000) / decodeMs) * 10) / 10,
    decodeMedianMs: ms(median(per)),
    decodeCtx: [cfg.ctx, cfg.ctx + cfg.steps],
    heapMiB: Math.round(wasmHeapBytes() / MiB),
  });
  // The check runs last, so that the first run above is cold.
  if (cfg.check) {
    let s = await step(cfg.check.prompt, empty(), 0);
    const logits = [Array.from(s.logits)];
    for (const tok of cfg.check.next) {
      s = await step([tok], s.past, s.len);
      logits.push(Array.from(s.logits));
    }
    release(s.past);
    report({ checkLogits: logits });
  }

  await session.release();
  report({ done: true });
}

// ---------------------------------------------------------------- parent
function runChild(cfg: ChildConfig, timeoutMs: number): Promise<Record_> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const r: Record_ = {};
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", JSON.stringify(cfg)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => {
      r.error = `timed out after ${Math.round(timeoutMs / 1000)} s`;
      p.kill("SIGKILL");
    }, timeoutMs);
    let buf = "";
    let err = "";
    p.stdout.on("data", (b: Buffer) => {
      buf += b.toString();
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith("@@peer ")) {
          const part = JSON.parse(line.slice(7)) as Record_;
          if ("firstRunMs" in part) r.spawnToFirstTokenMs = ms(performance.now() - t0);
          Object.assign(r, part);
          if (!("checkLogits" in part)) console.log(`  [${cfg.ep}] ${line.slice(7)}`);
        } else if (line.trim()) console.log(`  [${cfg.ep}] ${line}`);
      }
    });
    p.stderr.on("data", (b: Buffer) => {
      err = (err + b.toString()).slice(-4000);
    });
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      if (!r.done && !r.error)
        r.error = `exit ${code ?? signal}: ${err.trim().split("\n").slice(-6).join(" | ")}`;
      if (r.error) console.log(`  [${cfg.ep}] error: ${r.error}`);
      resolve(r);
    });
  });
}

const fmt = (v: unknown, w: number) => String(v ?? "-").padStart(w);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--child") return child(JSON.parse(argv[1]!) as ChildConfig);
  const o = parseOptions(argv);
  const deadline = performance.now() + o.budgetS * 1000;
  const ortDir = unpackOrt(o.ortDir);
  const results: Record_[] = [];
  const out = { ort: ORT_VERSION, node: process.version, options: o, results };
  const save = () => {
    if (!process.env.OUT) return;
    mkdirSync(process.env.OUT, { recursive: true });
    writeFileSync(join(process.env.OUT, "peer-bench.json"), JSON.stringify(out, null, 1));
  };
  for (const name of o.shapes) {
    const shape: Shape = { ...SHAPES[name]!, ...(o.layers ? { layers: o.layers } : {}) };
    const modelDir = join(o.dir, `${name}-L${shape.layers}${o.lastLogits ? "" : "-all"}`);
    const gen = { dir: modelDir, shape, lastLogits: o.lastLogits };
    let m = cachedModel(gen);
    const cached = !!m;
    m ??= generate(gen);
    const fileBytes = [m.model, ...m.dataFiles].reduce((a, f) => a + statSync(join(modelDir, f)).size, 0);
    console.log(
      `${name}: ${shape.layers} layers, ${(fileBytes / MiB).toFixed(0)} MiB on disk, ` +
        `${cached ? "cached" : `generated in ${m.generateMs} ms`} (${modelDir})`,
    );
    const row: Record_ = {
      shape: name,
      config: shape,
      fileMiB: Math.round(fileBytes / MiB),
      generateMs: cached ? null : m.generateMs,
      decodeWeightBytesPerToken: decodeWeightBytes(shape),
      lastLogitsOnly: o.lastLogits,
      eps: {} as Record<string, Record_>,
    };
    results.push(row);
    let check: ChildConfig["check"];
    let ref: Float64Array[] = [];
    if (o.check) {
      check = { prompt: randomTokens(5, shape.vocab, 7), next: randomTokens(3, shape.vocab, 8) };
      const dec = referenceDecoder(modelDir, m);
      ref = [dec(check.prompt), ...check.next.map((t) => dec([t]))];
    }
    for (const ep of o.eps) {
      const left = deadline - performance.now();
      if (left < 20_000) {
        (row.eps as Record<string, Record_>)[ep] = { error: "skipped: out of --budget-s" };
        continue;
      }
      const { prompt, ctx, steps, warmup, prefillReps, kv } = o;
      const cfg: ChildConfig = { ep, ortDir, modelDir, prompt, ctx, steps, warmup, prefillReps, kv };
      if (check) cfg.check = check;
      if (o.createOnly) cfg.createOnly = true;
      const r = await runChild(cfg, left);
      if (r.checkLogits) {
        const got = r.checkLogits as number[][];
        r.checkRelErr = got.map((g, i) => Number(relError(g, ref[i]!).toExponential(2)));
        r.checkArgmaxMatch = got.every((g, i) => argmax(g) === argmax(ref[i]!));
        delete r.checkLogits;
        console.log(
          `  [${ep}] logits vs f64 reference, rel. L2 error per step: ${(r.checkRelErr as number[]).join(", ")}`,
        );
      }
      (row.eps as Record<string, Record_>)[ep] = r;
      save();
    }
  }
  save();
  console.log(
    `\nonnxruntime-web ${ORT_VERSION} on Dawn, prompt ${o.prompt}, decode at ctx ${o.ctx} (${o.steps} steps), KV ${o.kv}`,
  );
  console.log(
    `${"shape".padEnd(14)}${fmt("ep", 7)}${fmt("cold ms", 10)}${fmt("create", 9)}${fmt("1st run", 9)}` +
      `${fmt("prefill t/s", 12)}${fmt("decode t/s", 11)}${fmt("GB/s", 7)}${fmt("heap MiB", 9)}${fmt("check", 9)}`,
  );
  for (const row of results) {
    for (const [ep, r] of Object.entries(row.eps as Record<string, Record_>)) {
      const gbs = r.decodeTokS
        ? ((r.decodeTokS as number) * (row.decodeWeightBytesPerToken as number)) / 1e9
        : undefined;
      const chk = r.checkRelErr ? Math.max(...(r.checkRelErr as number[])).toExponential(1) : undefined;
      console.log(
        `${String(row.shape).padEnd(14)}${fmt(ep, 7)}${fmt(r.coldMs, 10)}${fmt(r.createMs, 9)}${fmt(r.firstRunMs, 9)}` +
          `${fmt(r.prefillTokS, 12)}${fmt(r.decodeTokS, 11)}${fmt(gbs?.toFixed(0), 7)}${fmt(r.heapMiB, 9)}${fmt(chk, 9)}` +
          (r.error ? `  ERROR ${String(r.error).slice(0, 160)}` : ""),
      );
    }
  }
  if (process.env.OUT) console.log(`full results: ${join(process.env.OUT, "peer-bench.json")}`);
  const failed = results.some((row) =>
    Object.values(row.eps as Record<string, Record_>).some((r) => r.error || r.finite === false),
  );
  process.exitCode = failed ? 1 : 0;
}

function argmax(xs: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[b]!) b = i;
  return b;
}

await main();
// A child is done once it has reported: skip Dawn's teardown (it waits for the device, which took a
// minute on SwiftShader after a big model) by ending the process outright.
if (process.argv[2] === "--child") process.kill(process.pid, "SIGKILL");
