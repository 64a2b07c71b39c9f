// A bench case builds its buffers and dispatches once; the runner encodes it many times per submit,
// warms up, takes the median, and divides by the same-run copy-kernel bandwidth.
import type { Dispatch } from "../src/kernel.ts";

export interface BenchCase {
  /** The shape, e.g. "int4_gemv 4096x4096"; cases with the same name are variants of one shape. */
  name: string;
  /** The variant's label (override constants); the first variant of a name is the default. */
  variant?: string;
  /** Fewest bytes one run must move through device memory (each input read once, output written once). */
  bytes: number;
  /** Floating-point operations of one run (2 per multiply-add), 0 when not meaningful. */
  flops: number;
  /** Allocates inputs (seeded random, never zeros) and returns the dispatches of one run. */
  setup(device: GPUDevice): Dispatch[];
}
