export * from "./format/f16.ts";
export * from "./format/int4.ts";
export * from "./kernel.ts";
export * from "./norm/rmsnorm.ref.ts";
export * from "./norm/rmsnorm.ts";
export * from "./rope/rope.ref.ts";
export * from "./rope/rope.ts";
