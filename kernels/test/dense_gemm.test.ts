import { denseGemmCases } from "./cases/dense_gemm.ts";
import { runCases } from "./harness.ts";

runCases(denseGemmCases);
