import { int8QuantizeCases } from "./cases/int8_quantize.ts";
import { runCases } from "./harness.ts";

runCases(int8QuantizeCases);
