import { quantizeCases } from "./cases/quantize.ts";
import { runCases } from "./harness.ts";

runCases(quantizeCases);
