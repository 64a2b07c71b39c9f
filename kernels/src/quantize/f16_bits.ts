import code from "./f16_bits.wgsl?raw";

/** WGSL helpers f16_to_f32_bits / f32_to_f16_bits (exact, mirroring format/f16.ts); prepend to a kernel. */
export const f16BitsWgsl: string = code;
