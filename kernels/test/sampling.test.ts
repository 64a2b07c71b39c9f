import { samplingCases } from "./cases/sampling.ts";
import { runCases } from "./harness.ts";

runCases(samplingCases);
