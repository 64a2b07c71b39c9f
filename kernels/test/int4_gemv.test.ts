import { int4GemvCases } from "./cases/int4_gemv.ts";
import { runCases } from "./harness.ts";

runCases(int4GemvCases);
