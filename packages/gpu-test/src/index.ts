export * from "./buffers.ts";
export * from "./compare.ts";
export * from "./device.ts";
export * from "./random.ts";
