import { int4GemmCases } from "./cases/int4_gemm.ts";
import { runCases } from "./harness.ts";

runCases(int4GemmCases);
