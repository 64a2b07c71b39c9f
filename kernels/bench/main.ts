// Kernel bench: the same-run copy-kernel bandwidth (the roofline) and writeBuffer bandwidth, then
// every case under bench/cases at real LLM shapes, each variant timed, the best and the default
// reported as ratios to the copy bandwidth. Full results go to $OUT/kernel-bench.json when OUT is set.
//   node dist/bench.mjs [--quick] [--sweep] [filter]
import { writeFileSync } from "node:fs";
import { withErrorScopes } from "@wisp/gpu-test";
import { nodeDevice } from "@wisp/gpu-test/node";
import type { Dispatch } from "../src/kernel.ts";
import type { BenchCase } from "./case.ts";
import { copyDispatch } from "./copy.ts";
import { timeRuns, warmUp, writeBufferBandwidth } from "./timer.ts";

const modules = import.meta.glob<Record<string, unknown>>("./cases/*.ts", { eager: true });
const isCase = (v: unknown): v is BenchCase =>
  typeof v === "object" && v !== null && "setup" in v && "bytes" in v && "name" in v;
const allCases: BenchCase[] = Object.values(modules).flatMap((m) =>
  Object.values(m).flatMap((v) => (Array.isArray(v) ? v.filter(isCase) : [])),
);

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const sweep = args.includes("--sweep"); // the GEMV work-split sweep (cases/gemv-sweep.ts), only on request
const filter = args.find((a) => !a.startsWith("--"));
const MB = 1 << 20;

interface Row {
  name: string;
  variant: string;
  seconds: number;
  gbps: number;
  ofCopy: number;
  tflops: number;
  method: string;
}

async function main(): Promise<void> {
  const { device, adapterInfo, features } = await nodeDevice();
  console.log(`adapter: ${JSON.stringify(adapterInfo)} features: ${features.join(",")}`);
  const copyBytes = (quick ? 16 : 512) * MB;
  const copyD = copyDispatch(device, copyBytes);
  if (!quick) await warmUp(device, copyD, 5);
  const copy = await withErrorScopes(device, () =>
    timeRuns(device, [[copyD]], { reps: quick ? 2 : 20, samples: 7 }),
  );
  const copyBw = (2 * copyBytes) / copy.seconds;
  const writeBw = await writeBufferBandwidth(device, (quick ? 16 : 256) * MB);
  console.log(
    `copy kernel: ${(copyBw / 1e9).toFixed(1)} GB/s (read+write, ${copy.method}); writeBuffer: ${(writeBw / 1e9).toFixed(2)} GB/s`,
  );

  const rows: Row[] = [];
  const cases = allCases.filter(
    (c) =>
      (!filter || c.name.includes(filter)) &&
      (!quick || c.bytes < 64 * MB) &&
      c.name.startsWith("sweep ") === sweep,
  );
  // The sweep times every case twice, a whole pass apart (the summary keeps each variant's best), so
  // one disturbed sample does not decide a ranking.
  if (sweep) cases.push(...cases);
  for (const c of cases) {
    // Enough copies of the inputs that rotating through them streams from DRAM, not L2.
    const copies = Math.min(8, Math.max(1, Math.ceil((quick ? 1 : 256 * MB) / c.bytes)));
    let runs: Dispatch[][];
    try {
      runs = Array.from({ length: copies }, () => c.setup(device));
    } catch (e) {
      // a variant over this device's limits (threads, workgroup memory): not a result
      if (!(e instanceof Error && e.message.includes("device limit"))) throw e;
      console.log(`  ${c.name} [${c.variant}] skipped: ${e.message}`);
      continue;
    }
    const row = await withErrorScopes(device, async () => {
      const probe = await timeRuns(device, runs, { reps: 1, samples: 1, warmup: 1 });
      const reps = Math.max(
        1,
        Math.min(200, Math.round((quick ? 0.002 : 0.02) / Math.max(probe.seconds, 1e-7))),
      );
      const t = await timeRuns(device, runs, { reps, samples: quick ? 3 : 9 });
      const gbps = c.bytes / t.seconds / 1e9;
      return {
        name: c.name,
        variant: c.variant ?? "default",
        seconds: t.seconds,
        gbps,
        ofCopy: c.bytes / t.seconds / copyBw,
        tflops: c.flops / t.seconds / 1e12,
        method: t.method,
      };
    });
    rows.push(row);
    console.log(
      `  ${row.name} [${row.variant}] ${(row.seconds * 1e6).toFixed(1)} µs  ${row.gbps.toFixed(1)} GB/s  ${(row.ofCopy * 100).toFixed(1)}% of copy  ${row.tflops.toFixed(2)} TFLOP/s`,
    );
  }

  // Summary: per shape, the default variant and the best one.
  const names = [...new Set(rows.map((r) => r.name))];
  const summary = names.map((name) => {
    const vs = rows.filter((r) => r.name === name);
    const def = vs[0]!;
    const best = vs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    return { name, def, best };
  });
  const out = process.env.OUT;
  if (out) {
    writeFileSync(
      `${out}/kernel-bench.json`,
      JSON.stringify({ adapterInfo, features, copyBw, writeBw, copyMethod: copy.method, rows }, null, 1),
    );
  }
  console.log(
    `\ncopy ${(copyBw / 1e9).toFixed(0)} GB/s | writeBuffer ${(writeBw / 1e9).toFixed(1)} GB/s | ${adapterInfo.vendor} ${adapterInfo.architecture} ${adapterInfo.description}`,
  );
  console.log("| kernel @ shape | default µs | best µs (variant) | GB/s | % copy BW | TFLOP/s |");
  console.log("|---|---|---|---|---|---|");
  for (const { name, def, best } of summary) {
    console.log(
      `| ${name} | ${(def.seconds * 1e6).toFixed(1)} | ${(best.seconds * 1e6).toFixed(1)} (${best.variant}) | ${best.gbps.toFixed(0)} | ${(best.ofCopy * 100).toFixed(1)}% | ${best.tflops.toFixed(2)} |`,
    );
  }
  device.destroy();
}

await main();
