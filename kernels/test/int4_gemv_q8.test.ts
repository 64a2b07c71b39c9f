import { int4GemvQ8Cases } from "./cases/int4_gemv_q8.ts";
import { runCases } from "./harness.ts";

runCases(int4GemvQ8Cases);
