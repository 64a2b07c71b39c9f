import { denseGemvCases } from "./cases/dense_gemv.ts";
import { runCases } from "./harness.ts";

runCases(denseGemvCases);
