// The worker's device: the runtime's requestDevice with the sentences the demos show.
import { requestDevice } from "@wisp/runtime";
import { NO_ADAPTER, NO_WEBGPU } from "./messages.ts";

export interface AcquiredGpu {
  device: GPUDevice;
  /** Kept referenced with the device: Dawn (Node) tears its instance down when these are collected. */
  adapter: GPUAdapter;
  gpu: GPU;
  description: string;
}

export async function requestWispDevice(gpu: GPU | undefined): Promise<AcquiredGpu> {
  const d = await requestDevice(gpu, { noWebGPU: NO_WEBGPU, noAdapter: NO_ADAPTER });
  const i = d.adapterInfo;
  const description = [i.vendor, i.architecture, i.description].filter(Boolean).join(" ") || "WebGPU adapter";
  return { device: d.device, adapter: d.adapter, gpu: d.gpu, description };
}
