// What a person reads when WebGPU cannot run Wisp (shown as-is by the demos).
export const NO_WEBGPU = "This browser has no WebGPU support — try Chrome 113+ on a desktop";
export const NO_ADAPTER =
  "WebGPU is switched off or blocked for this GPU in this browser — try Chrome 113+ on a desktop with hardware acceleration on";
