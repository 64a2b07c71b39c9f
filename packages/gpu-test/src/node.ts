// Node host for tests: the runtime's Dawn bootstrap, one device per process (vitest runs each test
// file in its own fork).
import { nodeGpu } from "@wisp/runtime/node";
import { type AcquiredDevice, acquireDevice } from "./device.ts";

let cached: Promise<AcquiredDevice> | undefined;

export { nodeGpu };

export function nodeDevice(): Promise<AcquiredDevice> {
  cached ??= nodeGpu().then((gpu) => acquireDevice(gpu, "Node (Dawn)"));
  return cached;
}
