/**
 * Prometheus metrics with Triton's names, on their own Registry and port. Every value is read
 * from the schedulers' cumulative statistics when scraped, so nothing is counted twice and
 * nothing on the request path touches prom-client.
 */
import * as http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ModelRepository } from '../repository/repository.js';
import type { ModelStatistics } from '../batcher/types.js';

export interface GpuMemoryReport {
  /** GPU identifier (UUID where known, else the ordinal) */
  gpu: string;
  usedBytes: number;
  totalBytes?: number;
}

export interface MetricsOptions {
  repository: ModelRepository;
  /** Optional hook: GPU memory in use, as a backend reports it. Without it no GPU gauge exists. */
  gpuMemory?: () => GpuMemoryReport[];
}

type CounterDef = [name: string, help: string, value: (s: ModelStatistics) => number];

const US = (ns: number): number => Math.round(ns / 1000);

const COUNTERS: CounterDef[] = [
  ['nv_inference_request_success', 'Number of successful inference requests, all batch sizes', (s) => s.success.count],
  ['nv_inference_request_failure', 'Number of failed inference requests, all batch sizes', (s) => s.fail.count],
  ['nv_inference_count', 'Number of inferences performed (a batch of n counts n)', (s) => s.inferenceCount],
  ['nv_inference_exec_count', 'Number of model executions performed', (s) => s.executionCount],
  ['nv_inference_request_duration_us', 'Cumulative inference request duration in microseconds (successful requests)', (s) => US(s.success.ns)],
  ['nv_inference_queue_duration_us', 'Cumulative inference queuing duration in microseconds', (s) => US(s.queue.ns)],
  ['nv_inference_compute_input_duration_us', 'Cumulative compute input duration in microseconds', (s) => US(s.computeInput.ns)],
  ['nv_inference_compute_infer_duration_us', 'Cumulative compute inference duration in microseconds', (s) => US(s.computeInfer.ns)],
  ['nv_inference_compute_output_duration_us', 'Cumulative inference compute output duration in microseconds', (s) => US(s.computeOutput.ns)],
];

/** A Registry whose metrics are computed from the repository at each scrape. */
export function createMetricsRegistry(options: MetricsOptions): Registry {
  const repo = options.repository;
  const registry = new Registry();
  // one snapshot of all statistics per scrape, shared by every metric's collect()
  let snapshot: { at: number; stats: Array<{ name: string; version: number; stats: ModelStatistics }> } | undefined;
  const stats = (): Array<{ name: string; version: number; stats: ModelStatistics }> => {
    const now = Date.now();
    if (!snapshot || now - snapshot.at > 50) snapshot = { at: now, stats: repo.statistics() };
    return snapshot.stats;
  };
  for (const [name, help, value] of COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: ['model', 'version'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of stats()) this.inc({ model: s.name, version: String(s.version) }, value(s.stats));
      },
    });
  }
  new Gauge({
    name: 'nv_inference_pending_request_count',
    help: 'Instantaneous number of pending requests awaiting execution per model',
    labelNames: ['model', 'version'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of stats()) this.set({ model: s.name, version: String(s.version) }, s.stats.pendingRequests);
    },
  });
  if (options.gpuMemory) {
    const hook = options.gpuMemory;
    new Gauge({
      name: 'nv_gpu_memory_used_bytes',
      help: 'GPU used memory, in bytes',
      labelNames: ['gpu_uuid'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const g of hook()) this.set({ gpu_uuid: g.gpu }, g.usedBytes);
      },
    });
    new Gauge({
      name: 'nv_gpu_memory_total_bytes',
      help: 'GPU total memory, in bytes',
      labelNames: ['gpu_uuid'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const g of hook()) if (g.totalBytes !== undefined) this.set({ gpu_uuid: g.gpu }, g.totalBytes);
      },
    });
  }
  return registry;
}

/** A plain HTTP server answering GET /metrics (not yet listening). */
export function createMetricsServer(registry: Registry): http.Server {
  return http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
}
