import { elementwiseCases } from "./cases/elementwise.ts";
import { runCases } from "./harness.ts";

runCases(elementwiseCases);
