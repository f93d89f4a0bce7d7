/** The shape of a benchmark report (also what `tensorrt-node bench --json` writes). */
import type { TimingStats } from './stats.js';
import type { CompletionMode, WaitMode } from '../tensorrt/cuda.js';

export type BenchMethod = 'trtexec' | 'cpp' | 'js';

/**
 * One measured loop, in trtexec's vocabulary. Times are microseconds. With K streams the
 * iterations of all K are pooled into the statistics, and throughput counts all of them.
 */
export interface BenchLoopResult {
  method: BenchMethod;
  /** timed queries (all streams) */
  iterations: number;
  /** wall time of the timed phase, ms (trtexec: Total Host Walltime) */
  wallMs: number;
  /** queries per second = iterations / wall time */
  throughputQps: number;
  /** inferences per second = qps × batch (dimension 0 of the first input) */
  inferencesPerSecond: number;
  /**
   * Latency of one query. trtexec: H2D + GPU compute + D2H from CUDA events. C++ and JS loops:
   * host wall time from the enqueue call until completion is seen by the caller.
   */
  latency: TimingStats;
  /** host time of the enqueue call (C++: copies + enqueueV3 or graph launch; JS: the run() call) */
  enqueue?: TimingStats;
  /** CUDA-event time of the input copies (absent when a CUDA graph holds copies and inference) */
  h2d?: TimingStats;
  /** CUDA-event time of the inference; with a CUDA graph, of the whole graph (copies included) */
  compute?: TimingStats;
  /** CUDA-event time of the output copies (absent with a CUDA graph) */
  d2h?: TimingStats;
  /** was a CUDA graph replayed (false if capture failed and the loop fell back) */
  cudaGraph: boolean;
  /** trtexec only: its version banner, command line and warnings */
  trtexecVersion?: string;
  command?: string[];
  warnings?: string[];
}

export interface BenchEnvironment {
  node: string;
  platform: string;
  cpuModel?: string;
  cpus?: number;
  tensorrt?: { version: string; flavor: string; libraryPath: string };
  cuda?: { driverVersion: number; runtimeVersion: number; device?: { index: number; name: string; computeCapability: string; totalMemory: number } };
  uvThreadpoolSize: number;
}

export interface BenchConfig {
  plan: string;
  device: number;
  profile: number;
  /** shape of every input, engine order */
  shapes: Record<string, number[]>;
  /** dimension 0 of the first input (1 for a scalar) */
  batch: number;
  streams: number;
  cudaGraph: boolean;
  dataTransfers: boolean;
  /** two inferences in flight per stream, the next one's inputs copied while the current one computes */
  overlap: boolean;
  /** per stream, when set; otherwise durationMs */
  iterations?: number;
  durationMs?: number;
  warmupMs: number;
  /** rounds the C++ and JS loops alternated in (RunBenchOptions.rounds), when more than one */
  rounds?: number;
  waitMode?: WaitMode;
  completion?: CompletionMode;
  methods: BenchMethod[];
}

export interface StaticBatchResult {
  batchSize: number;
  /** C++ loop on `instances` contexts at once */
  iterations: number;
  wallMs: number;
  inferencesPerSecond: number;
  latencyMeanUs: number;
  latencyP99Us: number;
  computeMeanUs: number;
}

export interface BatcherRunResult {
  concurrency: number;
  /** completed single-item requests */
  requests: number;
  failed: number;
  wallMs: number;
  /** requests (= inferences, batch 1 each) per second */
  inferencesPerSecond: number;
  /** per-request latency, µs, seen by the caller (queue + gather + run + scatter) */
  latency: TimingStats;
  /** batcher statistics over the timed phase */
  meanBatchSize: number;
  meanQueueUs: number;
  executions: number;
  /** mean per execution, µs: gathering the inputs (JS thread), running the batch (the backend's call, launch-thread gather included), scattering the outputs */
  meanExecutionUs?: { input: number; infer: number; output: number };
  /** inferencesPerSecond / bestStatic.inferencesPerSecond */
  ratioToBestStatic?: number;
  /** p99 ≤ maxQueueDelay + mean latency of one max-size batch (C++ loop)? */
  p99WithinBound?: boolean;
}

export interface BatcherBenchReport {
  instances: number;
  maxBatchSize: number;
  maxQueueDelayUs: number;
  /** where requests lived: one shared JS array, or a pinned HostBuffer per caller */
  requestMemory?: 'js' | 'pinned';
  /** callers gave their own output buffers (BatcherBenchOptions.callerOutputs) */
  callerOutputs?: boolean;
  /** requests were added to the next batch's assembly as they arrived (DynamicBatcher's stageOnArrival) */
  stageOnArrival?: boolean;
  /** shape of one request's inputs */
  requestShapes: Record<string, number[]>;
  staticSweep: StaticBatchResult[];
  bestStatic?: { batchSize: number; inferencesPerSecond: number };
  /** maxQueueDelayUs + latency (C++ loop, mean) of one batch of maxBatchSize, when measured */
  p99BoundUs?: number;
  /** C++-loop latency (mean) of one batch of maxBatchSize */
  maxBatchLatencyUs?: number;
  runs: BatcherRunResult[];
}

export interface BenchRatios {
  /** JS throughput / C++ loop throughput */
  jsOverCppThroughput?: number;
  /** the same ratio in each round, when the loops alternated in rounds */
  jsOverCppThroughputPerRound?: number[];
  /** JS latency − C++ loop latency, µs */
  jsMinusCppLatencyUs?: { mean: number; median: number; p90: number; p99: number };
  /** C++ loop throughput / trtexec throughput */
  cppOverTrtexecThroughput?: number;
  /** JS throughput / trtexec throughput */
  jsOverTrtexecThroughput?: number;
}

export interface BenchReport {
  version: 1;
  date: string;
  environment: BenchEnvironment;
  config: BenchConfig;
  results: { trtexec?: BenchLoopResult; cpp?: BenchLoopResult; js?: BenchLoopResult };
  ratios: BenchRatios;
  batcher?: BatcherBenchReport;
  notes: string[];
}
