// Cold start from a fresh process, the measure the peer bench takes of ORT-web (bench/peer: process
// start → first token of a 512-token prompt): the parent writes a shape's packed weights to a folder
// (what a first load leaves in the Node store: one file per packed group, read whole, as the store's
// blobs are), then a child process starts, acquires the device, loads the engine from that folder
// (Engine.load with `packed`: no checkpoint parsing, no quantization) and runs the prompt to its first
// token. The child's clock is performance.now(): milliseconds since its own process started.
//   node dist/model-bench.mjs --cold [shape]       (spawns `--cold-child <dir> <shape>` itself)
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeDevice } from "@wisp/gpu-test/node";
import type { ModelConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { memorySource } from "../src/loader/source.ts";
import { destroyLinear } from "../src/model/linear.ts";
import { type PackedCache, weightsFromPacked, writePacked } from "../src/model/packed.ts";
import { randomGroups } from "../src/model/random-weights.ts";
import { layerBuffers } from "../src/model/streaming.ts";

export interface ColdStart {
  shape: string;
  /** child process start → first token (ms) */
  coldMs: number;
  /** of it: device acquired, at ms since the child's start */
  deviceAtMs: number;
  /** Engine.load (packed files read + upload + pipelines + warm-up), ms */
  loadMs: number;
  /** prompt tokens (512; 48 with --quick) */
  prompt: number;
  /** the prompt to its first token, ms */
  ttftMs: number;
  /** packed bytes read from the folder */
  bytes: number;
}

/** One file per packed group, read whole and asynchronously, as the Node store reads its blobs. */
function folderCache(dir: string): PackedCache & { bytesRead: number } {
  const path = (name: string) => join(dir, encodeURIComponent(name));
  const cache = {
    bytesRead: 0,
    get: async (name: string) => {
      try {
        const b = await readFile(path(name));
        cache.bytesRead += b.byteLength;
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch {
        return undefined;
      }
    },
    put: async (name: string, bytes: Uint8Array) => writeFileSync(path(name), bytes),
  };
  return cache;
}

/** Parent: packs `c`'s random weights into a folder, runs the child, returns what it measured. */
export async function coldStart(
  device: GPUDevice,
  name: string,
  c: ModelConfig,
  script: string,
  prompt = 512,
): Promise<ColdStart> {
  const dir = join(tmpdir(), `wisp-cold-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const read = randomGroups(device, c, 1234);
    const weights = await weightsFromPacked(device, c, "int4", read);
    await writePacked(device, c, weights, folderCache(dir));
    for (const l of new Set([weights.embed, weights.lmHead])) destroyLinear(l);
    for (const l of weights.layers) for (const b of layerBuffers(l)) b.destroy();
    weights.finalNorm.destroy();
    const r = spawnSync(process.execPath, [script, "--cold-child", dir, name, String(prompt)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 600_000,
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    if (r.status !== 0 || !line) throw new Error(`cold-start child failed (${r.status}): ${r.stdout}`);
    return JSON.parse(line) as ColdStart;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Child: everything from here on is the cold start. Prints one JSON line. */
export async function coldChild(dir: string, name: string, promptLen: number): Promise<void> {
  const { device } = await nodeDevice();
  const deviceAtMs = performance.now();
  const packed = folderCache(dir);
  const t0 = performance.now();
  const engine = await Engine.load(device, memorySource({}), {
    packed,
    requireTokenizer: false,
    contextLength: promptLen + 64,
  });
  const loadMs = performance.now() - t0;
  const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919 + 3) % engine.config.vocabSize);
  const t1 = performance.now();
  await engine.generate(prompt, { maxTokens: 1, temperature: 0, ignoreEos: true });
  const end = performance.now();
  const out: ColdStart = {
    shape: name,
    coldMs: end,
    deviceAtMs,
    loadMs,
    prompt: promptLen,
    ttftMs: end - t1,
    bytes: packed.bytesRead,
  };
  console.log(JSON.stringify(out));
  engine.destroy();
}
