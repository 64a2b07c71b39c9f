import { rmsNormCases } from "./cases/rmsnorm.ts";
import { runCases } from "./harness.ts";

runCases(rmsNormCases);
