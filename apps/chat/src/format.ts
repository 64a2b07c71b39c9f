// Numbers as people read them. Decimal units (MB, GB), as download sizes are usually shown.

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = n / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Parameter counts: 260K, 362M, 1.24B. */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${trim(n / 1e9)}B`;
  if (n >= 1e6) return `${trim(n / 1e6)}M`;
  if (n >= 1e3) return `${trim(n / 1e3)}K`;
  return String(n);
}

function trim(v: number): string {
  return v >= 100
    ? v.toFixed(0)
    : v >= 10
      ? v.toFixed(1).replace(/\.0$/, "")
      : v.toFixed(2).replace(/0$/, "");
}

/** A time left: "8 s", "3 min", "1 h 5 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

/** Tokens per second with a sensible number of digits. */
export function formatRate(tps: number): string {
  if (!Number.isFinite(tps) || tps <= 0) return "–";
  return tps >= 100 ? tps.toFixed(0) : tps >= 10 ? tps.toFixed(1) : tps.toFixed(2);
}

/** "just now", "5 min ago", "yesterday", or a date. */
export function formatWhen(ms: number, now = Date.now()): string {
  const s = (now - ms) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 172800) return "yesterday";
  return new Date(ms).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}
