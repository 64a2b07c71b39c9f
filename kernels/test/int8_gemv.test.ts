import { int8GemvCases } from "./cases/int8_gemv.ts";
import { runCases } from "./harness.ts";

runCases(int8GemvCases);
