/**
 * The benchmark harness, for the `tensorrt-node bench` command and the scripts in bench/. Built
 * to dist/internal/bench.{js,cjs} and deliberately absent from package.json's "exports": it is
 * a command, not an API, and changes with the measurements it serves.
 */
export * from './bench/index.js';
export { markTimingEpoch } from './tensorrt/cuda.js';
