// A kernel test case is host-agnostic: it gets a device and throws on mismatch. The same cases run
// in Node (vitest, Dawn) and in Chromium (e2e/, the `smoke` ones). Cases never import vitest.

export interface KernelCase {
  name: string;
  /** Also run inside Chromium in CI (keep these small: SwiftShader is slow). */
  smoke?: boolean;
  /** Returns a short line for the log (measured errors); throws on mismatch. */
  run(device: GPUDevice): Promise<string | undefined>;
}

/** A case name's suffix for the variant fields a case sets: " [tk=16 tr=2]", or "" for none. */
export function variantLabel(v: object): string {
  const parts = Object.entries(v).map(([k, val]) => `${k}=${val}`);
  return parts.length ? ` [${parts.join(" ")}]` : "";
}
