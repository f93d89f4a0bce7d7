export { runBench, validateBenchOptions, benchRatios, cppLoopResult, jsLoopResult, type RunBenchOptions, type BatcherBenchOptions, type JsSamples } from './run.js';
export { timingStats, trtexecMedian, trtexecPercentile, addSamples, concatSamples, type TimingStats } from './stats.js';
export {
  parseTrtexecOutput,
  trtexecArgs,
  trtexecLoopResult,
  checkTrtexec,
  runTrtexec,
  type TrtexecRunOptions,
  type TrtexecCheck,
  type TrtexecSummary,
  type TrtexecMetric,
} from './trtexec.js';
export { parseShapesSpec, formatShapesSpec, resolveShapes, type ResolveShapesOptions } from './shapes.js';
export { fillRandom } from './data.js';
export { formatBenchTable, formatBenchReport } from './format.js';
export { TimeProgress, type ProgressSink } from './progress.js';
export type * from './types.js';
