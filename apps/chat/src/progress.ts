// Load progress as the SDK reports it ({ phase, loaded, total, fraction }), turned into what the load
// card shows: one row per phase, bytes and an ETA for the download. Pure (unit-tested).
import type { LoadProgress } from "@wisp/sdk";
import { formatBytes, formatDuration } from "./format.ts";

export const PHASES = [
  { id: "download", label: "Download" },
  { id: "read", label: "Read from this browser" },
  { id: "quantize", label: "Prepare weights (INT4)" },
  { id: "compile", label: "Compile GPU kernels" },
  { id: "warmup", label: "Warm up" },
] as const;

/** Bytes per second over the last few seconds of samples (a moving window, not since the start). */
export class RateMeter {
  private samples: { t: number; loaded: number }[] = [];
  constructor(private readonly windowMs = 4000) {}

  add(loaded: number, t: number): void {
    const last = this.samples.at(-1);
    if (last && loaded < last.loaded) this.samples = []; // a new download restarted the count
    this.samples.push({ t, loaded });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift();
  }

  /** Bytes per second, once the window spans at least half a second. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.t - first.t < 500) return undefined;
    return (last.loaded - first.loaded) / ((last.t - first.t) / 1000);
  }

  /** Seconds until `total`, when the rate is known and positive. */
  eta(total: number): number | undefined {
    const rate = this.rate();
    const last = this.samples.at(-1);
    if (!rate || rate <= 0 || !last) return undefined;
    return Math.max(0, (total - last.loaded) / rate);
  }
}

/** The detail line of a phase row. */
export function phaseDetail(p: LoadProgress, meter?: RateMeter): string {
  const pct = `${Math.round(Math.min(1, Math.max(0, p.fraction)) * 100)}%`;
  if ((p.phase === "download" || p.phase === "read") && p.total > 0) {
    const parts = [`${formatBytes(p.loaded)} of ${formatBytes(p.total)}`];
    if (p.phase === "download" && p.fraction < 1 && meter) {
      const rate = meter.rate();
      const eta = meter.eta(p.total);
      if (rate !== undefined && rate > 0) parts.push(`${formatBytes(rate)}/s`);
      if (eta !== undefined) parts.push(`about ${formatDuration(eta)} left`);
    }
    return parts.join(" · ");
  }
  if (p.fraction >= 1) return "done";
  if (p.phase === "quantize" && p.total > 1) return `${pct} (${p.loaded} of ${p.total})`;
  return pct;
}
