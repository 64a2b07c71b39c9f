import { ropeCases } from "./cases/rope.ts";
import { runCases } from "./harness.ts";

runCases(ropeCases);
