// GPU sampling state for one sequence: the sampler writes each token id into `state` (word 1), which
// the next step's embedding reads, so the token loop never waits for the CPU.
import {
  argmaxSample,
  type Dispatch,
  penaltyCounts,
  type SamplingParams,
  sampleTopK,
  samplingParamsBuffer,
  samplingStateBuffer,
  writeSamplingParams,
  writeSamplingState,
} from "@wisp/kernels";
import { storageBuffer } from "../model/linear.ts";

const RING = 64;

export class GpuSampler {
  readonly params: GPUBuffer;
  /** u32 [step, last token, 0, 0] */
  readonly state: GPUBuffer;
  /** (ring) f32 log-probabilities */
  readonly logprobOut: GPUBuffer;
  readonly ring = RING;
  private readonly tokenOut: GPUBuffer;
  private readonly counts: GPUBuffer;
  private readonly history: GPUBuffer;
  private readonly historyLen: GPUBuffer;
  private readonly greedy: Dispatch[];
  private readonly stochastic: Dispatch[];
  private readonly countPrompt: Dispatch[];
  private penalize = false;
  private temperature = 0;

  constructor(
    private readonly device: GPUDevice,
    vocab: number,
    logits: GPUBuffer,
    private readonly maxHistory: number,
  ) {
    const buf = (label: string, bytes: number) => storageBuffer(device, label, bytes);
    this.params = samplingParamsBuffer(device, { temperature: 0 });
    this.state = samplingStateBuffer(device);
    this.tokenOut = buf("sampler.tokens", RING * 4);
    this.logprobOut = buf("sampler.logprobs", RING * 4);
    this.counts = buf("sampler.counts", Math.ceil(vocab / 4) * 16);
    this.history = buf("sampler.history", maxHistory * 4);
    this.historyLen = buf("sampler.historyLen", 16);
    const shape = { vocab, ring: RING };
    const io = {
      logits,
      counts: this.counts,
      params: this.params,
      state: this.state,
      tokenOut: this.tokenOut,
      logprobOut: this.logprobOut,
    };
    this.greedy = [argmaxSample(device, shape, io)];
    this.stochastic = sampleTopK(device, shape, io);
    this.countPrompt = penaltyCounts(
      device,
      { vocab, maxHistory },
      { history: this.history, historyLen: this.historyLen, counts: this.counts },
      { mode: "prompt", clear: true },
    );
  }

  /** Per request: parameters, step 0, and the prompt's penalty counts when penalties are on. */
  reset(p: SamplingParams, promptIds: readonly number[]): Dispatch[] {
    writeSamplingParams(this.device, this.params, p);
    writeSamplingState(this.device, this.state, 0);
    this.temperature = p.temperature;
    this.penalize =
      (p.repetitionPenalty ?? 1) !== 1 || (p.frequencyPenalty ?? 0) !== 0 || (p.presencePenalty ?? 0) !== 0;
    if (!this.penalize) return [];
    const ids = promptIds.slice(-this.maxHistory);
    this.device.queue.writeBuffer(this.history, 0, Uint32Array.from(ids));
    this.device.queue.writeBuffer(this.historyLen, 0, Uint32Array.of(ids.length, 0, 0, 0));
    return this.countPrompt;
  }

  /** The dispatches that turn this step's logits into a token (1 greedy, 2 stochastic). */
  sample(): Dispatch[] {
    return this.temperature === 0 ? this.greedy : this.stochastic;
  }

  destroy(): void {
    for (const b of [
      this.params,
      this.state,
      this.tokenOut,
      this.logprobOut,
      this.counts,
      this.history,
      this.historyLen,
    ]) {
      b.destroy();
    }
  }
}
