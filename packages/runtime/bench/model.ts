// Model bench (Node; the measurement is model-run.ts, shared with the browser page bench/page): whole-model prefill and decode with random (non-zero) INT4 weights of real shapes,
// and weight streaming under GPU memory budgets, next to the same run's copy-kernel bandwidth (the
// roofline), queue.writeBuffer bandwidth and the weight uploader's (staged upload). Prints a compact table; with OUT set, writes
// $OUT/model-bench.json.
//   node dist/model-bench.mjs [--quick] [--stream] [--profile] [--cold] [shape-filter]
// --quick: tiny shapes and short runs (SwiftShader, CI smoke). --stream: also the streaming runs.
// --profile: where each shape's decode step spends its GPU time (bench/profile.ts), per dispatch, and the
// q8 and tuned engines' step times. --no-tune: skip the autotuned engine. --cold: only the cold start
// from a fresh process reading the packed weights from files (bench/cold-start.ts), per shape. Every shape also runs an engine
// with q8 activations (LoadOptions.activations) on the same weights: decode at 128.
import { writeFileSync } from "node:fs";
import { nodeDevice } from "@wisp/gpu-test/node";
import { copyDispatch } from "../../../kernels/bench/copy.ts";
import { timeRuns, warmUp, writeBufferBandwidth } from "../../../kernels/bench/timer.ts";
import { kvCacheBytes } from "../src/model/kv-cache.ts";
import { activationBytes } from "../src/model/llama.ts";
import { randomGroups } from "../src/model/random-weights.ts";
import { type ColdStart, coldChild, coldStart } from "./cold-start.ts";
import { benchShape, benchShapes, print, type Row, table, uploadBandwidth } from "./model-run.ts";
import { profileTable } from "./profile.ts";

const MB = 1 << 20;
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const stream = args.includes("--stream");
const profile = args.includes("--profile");
const noTune = args.includes("--no-tune"); // skip the autotuned engine (A/B runs)
const cold = args.includes("--cold"); // fresh-process cold starts only (bench/cold-start.ts)
const filter = args.find((a) => !a.startsWith("--"));

const SHAPES = benchShapes(quick);
const STREAM_SHAPES = quick ? ["tiny-llama"] : ["llama-3.2-1b", "llama-3.1-8b"];

async function main(): Promise<void> {
  const child = args.indexOf("--cold-child");
  if (child >= 0) {
    const [dir, shape, prompt] = [args[child + 1]!, args[child + 2]!, Number(args[child + 3])];
    await coldChild(dir, shape, prompt);
    return;
  }
  const { device, adapterInfo } = await nodeDevice();
  if (cold) {
    // Fresh-process cold starts only (bench/cold-start.ts), one per shape.
    const runs: ColdStart[] = [];
    for (const [name, c] of Object.entries(SHAPES)) {
      if (filter && !name.includes(filter)) continue;
      const r = await coldStart(device, name, c, process.argv[1]!, quick ? 48 : 512);
      console.log(
        `${name} cold start: ${r.coldMs.toFixed(0)} ms from process start to the first token (device at ${r.deviceAtMs.toFixed(0)}, load ${r.loadMs.toFixed(0)} reading ${(r.bytes / 1e9).toFixed(2)} GB of packed files, TTFT(${r.prompt}) ${r.ttftMs.toFixed(0)})`,
      );
      runs.push(r);
    }
    if (process.env.OUT) {
      writeFileSync(
        `${process.env.OUT}/model-bench-cold.json`,
        JSON.stringify({ adapter: adapterInfo, runs }, null, 1),
      );
    }
    return;
  }
  console.log(`adapter: ${JSON.stringify(adapterInfo)}`);
  const copyBytes = (quick ? 16 : 512) * MB;
  const copyD = copyDispatch(device, copyBytes);
  if (!quick) await warmUp(device, copyD, 5);
  const copy = await timeRuns(device, [[copyD]], {
    reps: quick ? 2 : 20,
    samples: 7,
  });
  const copyBw = (2 * copyBytes) / copy.seconds;
  const writeBw = await writeBufferBandwidth(device, (quick ? 16 : 256) * MB);
  const uploadBw = await uploadBandwidth(device, (quick ? 16 : 256) * MB);
  const bws = `writeBuffer ${(writeBw / 1e9).toFixed(2)} GB/s; staged upload ${(uploadBw / 1e9).toFixed(2)} GB/s`;
  console.log(`copy kernel ${(copyBw / 1e9).toFixed(1)} GB/s; ${bws}`);
  const rows: Array<Row & { totalBytes: number }> = [];
  for (const [name, c] of Object.entries(SHAPES)) {
    if (filter && !name.includes(filter)) continue;
    const read = randomGroups(device, c, 1234);
    const resident = await benchShape(
      device,
      quick,
      name,
      c,
      read,
      copyBw,
      uploadBw,
      undefined,
      "default",
      profile,
    );
    if (!quick || filter) {
      // The same weights with q8 activations, decode at 128.
      const q = await benchShape(device, quick, name, c, read, copyBw, uploadBw, undefined, "q8", profile);
      resident.q8DecodeTokS128 = q.decodeTokS128;
      resident.q8BandwidthFraction128 = q.bandwidthFraction128;
      if (q.stepUs128 !== undefined) resident.q8StepUs128 = q.stepUs128;
    }
    if ((!quick || filter) && !noTune) {
      // The same weights on an autotuned engine (fresh tuning: no cache), decode at 128.
      const t = await benchShape(device, quick, name, c, read, copyBw, uploadBw, undefined, "tuned", profile);
      resident.tunedDecodeTokS128 = t.decodeTokS128;
      resident.tunedDecodeSpread128 = t.decodeSpread128;
      if (t.stepUs128 !== undefined) resident.tunedStepUs128 = t.stepUs128;
      resident.tuneMs = t.tuneMs!;
      resident.tuneReports = t.tuneReports!;
    }
    rows.push(resident);
    print(resident);
    if (stream && STREAM_SHAPES.includes(name)) {
      // Budget = the streaming run's KV cache + activations (context 256) + a fraction of the weights.
      const ctx = quick ? 64 : 256;
      const nonWeights = kvCacheBytes(c, ctx) + activationBytes(c, ctx);
      for (const f of [0.5, 0.25]) {
        const bytes = nonWeights + Math.floor(resident.weightBytes * f);
        try {
          const r = await benchShape(device, quick, name, c, read, copyBw, uploadBw, {
            label: `${f * 100}% of weights`,
            bytes,
          });
          rows.push(r);
          print(r);
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          console.log(`${name} [${f * 100}% of weights = ${bytes} B]: ${e.message}`);
        }
      }
    }
  }
  const out = process.env.OUT;
  if (out) {
    writeFileSync(
      `${out}/model-bench.json`,
      JSON.stringify(
        {
          adapter: adapterInfo,
          copyGBs: copyBw / 1e9,
          writeBufferGBs: writeBw / 1e9,
          stagedUploadGBs: uploadBw / 1e9,
          rows,
        },
        null,
        1,
      ),
    );
  }
  console.log(`\ncopy ${(copyBw / 1e9).toFixed(0)} GB/s, ${bws}`);
  for (const line of table(rows)) console.log(line);
  for (const r of rows) {
    if (!r.profile) continue;
    for (const line of profileTable(r.shape, r.profile)) console.log(line);
    if (r.q8StepUs128 !== undefined) {
      console.log(
        `${r.shape} q8 activations: step ${r.q8StepUs128.toFixed(0)} µs on the GPU vs ${r.profile.stepUs.toFixed(0)} µs f32`,
      );
    }
    if (r.tunedStepUs128 !== undefined) {
      console.log(
        `${r.shape} autotuned: step ${r.tunedStepUs128.toFixed(0)} µs on the GPU vs ${r.profile.stepUs.toFixed(0)} µs default`,
      );
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
