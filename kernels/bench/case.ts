// A bench case builds its buffers and dispatches once; the runner encodes it many times per submit,
// warms up, takes the median, and divides by the same-run copy-kernel bandwidth.
import type { Dispatch } from "../src/kernel.ts";

export interface BenchCase {
  /** e.g. "int4_gemv 4096x4096" */
  name: string;
  /** Fewest bytes one run must move through device memory (each input read once, output written once). */
  bytes: number;
  /** Floating-point operations of one run (2 per multiply-add), 0 when not meaningful. */
  flops: number;
  /** Allocates inputs (seeded random, never zeros) and returns the dispatches of one run. */
  setup(device: GPUDevice): Dispatch[];
}
