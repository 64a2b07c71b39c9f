// The browser bench page: the Node bench's measurement (../model-run.ts) on navigator.gpu, one shape
// after another, with the same-run copy-kernel, writeBuffer and staged-upload bandwidths. window.__wispBench carries
// the rows for scripts (the e2e test reads it).
import { copyDispatch } from "../../../../kernels/bench/copy.ts";
import { timeRuns, writeBufferBandwidth } from "../../../../kernels/bench/timer.ts";
import { requestDevice } from "../../src/device.ts";
import { randomGroups } from "../../src/model/random-weights.ts";
import { benchShape, benchShapes, type Row, uploadBandwidth } from "../model-run.ts";

declare global {
  interface Window {
    __wispBench?: {
      done: boolean;
      error?: string;
      copyGBs?: number;
      writeBufferGBs?: number;
      stagedUploadGBs?: number;
      rows: Row[];
    };
  }
}

const params = new URLSearchParams(location.search);
const quick = params.has("quick");
const filter = params.get("shape") ?? "";
const state: NonNullable<Window["__wispBench"]> = { done: false, rows: [] };
window.__wispBench = state;
const status = document.getElementById("status")!;
const progress = document.getElementById("progress") as HTMLProgressElement;
const MB = 1 << 20;

function show(r: Row): void {
  const table = document.getElementById("results") as HTMLTableElement;
  table.hidden = false;
  const f = (v: number | undefined, d = 1) => (v === undefined ? "—" : v.toFixed(d));
  const tr = document.createElement("tr");
  for (const cell of [
    r.shape,
    f(r.bytesPerToken / 1e6, 0),
    f(r.decodeTokS128),
    `${f(r.decodeSpread128 * 100, 0)}%`,
    f(r.bandwidthFraction128 * 100),
    f(r.q8DecodeTokS128),
    f(r.tunedDecodeTokS128),
    f(r.prefillTokS512, 0),
    f(r.prefillTflops, 2),
    f(r.ttftMs512, 0),
    f(r.dispatchesPerLayer, 1),
    f(r.jsMsPerToken, 2),
    f(r.compileMs, 0),
  ]) {
    const td = document.createElement("td");
    td.textContent = cell;
    tr.append(td);
  }
  table.tBodies[0]!.append(tr);
}

async function main(): Promise<void> {
  const { device, adapterInfo } = await requestDevice(navigator.gpu);
  const copyBytes = (quick ? 16 : 256) * MB;
  status.textContent = "measuring copy bandwidth…";
  const copy = await timeRuns(device, [[copyDispatch(device, copyBytes)]], {
    reps: quick ? 2 : 10,
    samples: 5,
  });
  const copyBw = (2 * copyBytes) / copy.seconds;
  const writeBw = await writeBufferBandwidth(device, (quick ? 16 : 128) * MB);
  state.copyGBs = copyBw / 1e9;
  const uploadBw = await uploadBandwidth(device, (quick ? 16 : 128) * MB);
  state.writeBufferGBs = writeBw / 1e9;
  state.stagedUploadGBs = uploadBw / 1e9;
  const shapes = Object.entries(benchShapes(quick)).filter(([name]) => name.includes(filter));
  if (!shapes.length) throw new Error(`no shape matches "${filter}"`);
  for (const [i, [name, c]] of shapes.entries()) {
    status.textContent = `${name} (${i + 1} of ${shapes.length}) — copy ${(copyBw / 1e9).toFixed(1)} GB/s, ${adapterInfo.description || adapterInfo.vendor || "this GPU"}`;
    progress.value = i / shapes.length;
    const read = randomGroups(device, c, 1234);
    const row = await benchShape(device, quick, name, c, read, copyBw, uploadBw);
    const q8 = await benchShape(device, quick, name, c, read, copyBw, uploadBw, undefined, "q8");
    row.q8DecodeTokS128 = q8.decodeTokS128;
    row.q8BandwidthFraction128 = q8.bandwidthFraction128;
    const tuned = await benchShape(device, quick, name, c, read, copyBw, uploadBw, undefined, "tuned");
    row.tunedDecodeTokS128 = tuned.decodeTokS128;
    row.tunedDecodeSpread128 = tuned.decodeSpread128;
    row.tuneMs = tuned.tuneMs!;
    state.rows.push(row);
    show(row);
  }
  progress.value = 1;
  status.textContent = `done — copy ${(copyBw / 1e9).toFixed(1)} GB/s, writeBuffer ${(writeBw / 1e9).toFixed(2)} GB/s, staged upload ${(uploadBw / 1e9).toFixed(2)} GB/s`;
  const json = document.getElementById("json")!;
  json.hidden = false;
  const { copyGBs, writeBufferGBs, stagedUploadGBs, rows } = state;
  json.textContent = JSON.stringify(
    { adapter: adapterInfo, copyGBs, writeBufferGBs, stagedUploadGBs, rows },
    null,
    1,
  );
}

main().then(
  () => {
    state.done = true;
  },
  (e: unknown) => {
    state.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    state.done = true;
    status.textContent = `failed: ${state.error}`;
  },
);
