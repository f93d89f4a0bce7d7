import { describe, expect, it, vi } from 'vitest';
import { createMetricsRegistry } from '../../lib/server/metrics.js';
import type { ModelRepository } from '../../lib/repository/repository.js';
import type { ModelStatistics } from '../../lib/batcher/types.js';

const d = (count: number, ns: number) => ({ count, ns });
function stats(n: number): ModelStatistics {
  return {
    success: d(n, 5_000_000),
    fail: d(2, 1000),
    queue: d(n, 1_000_000),
    computeInput: d(3, 3000),
    computeInfer: d(3, 2_000_000),
    computeOutput: d(3, 4000),
    inferenceCount: n,
    executionCount: 3,
    lastInference: 1,
    batchStats: [],
    pendingRequests: 4,
  };
}

describe('metrics', () => {
  it('computes Triton counters from scheduler statistics at scrape time', async () => {
    let n = 10;
    const repo = { statistics: () => [{ name: 'm', version: 1, stats: stats(n) }] } as unknown as ModelRepository;
    const reg = createMetricsRegistry({ repository: repo });
    // a scrape reads the statistics once and keeps them 50 ms (Date.now) for every metric: a fake clock steps past that
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      let text = await reg.metrics();
      expect(text).toContain('nv_inference_request_success{model="m",version="1"} 10');
      expect(text).toContain('nv_inference_request_failure{model="m",version="1"} 2');
      expect(text).toContain('nv_inference_count{model="m",version="1"} 10');
      expect(text).toContain('nv_inference_exec_count{model="m",version="1"} 3');
      expect(text).toContain('nv_inference_request_duration_us{model="m",version="1"} 5000');
      expect(text).toContain('nv_inference_queue_duration_us{model="m",version="1"} 1000');
      expect(text).toContain('nv_inference_compute_input_duration_us{model="m",version="1"} 3');
      expect(text).toContain('nv_inference_compute_infer_duration_us{model="m",version="1"} 2000');
      expect(text).toContain('nv_inference_compute_output_duration_us{model="m",version="1"} 4');
      expect(text).toContain('nv_inference_pending_request_count{model="m",version="1"} 4');
      expect(text).not.toContain('nv_gpu_memory_used_bytes');
      n = 11;
      text = await reg.metrics(); // within the 50 ms: the same snapshot
      expect(text).toContain('nv_inference_request_success{model="m",version="1"} 10');
      vi.setSystemTime(Date.now() + 51);
      n = 12;
      text = await reg.metrics();
      expect(text).toContain('nv_inference_request_success{model="m",version="1"} 12');
    } finally {
      vi.useRealTimers();
    }
  });

  it('exports GPU memory only through the optional hook', async () => {
    const repo = { statistics: () => [] } as unknown as ModelRepository;
    const reg = createMetricsRegistry({ repository: repo, gpuMemory: () => [{ gpu: 'GPU-0', usedBytes: 1024, totalBytes: 4096 }] });
    const text = await reg.metrics();
    expect(text).toContain('nv_gpu_memory_used_bytes{gpu_uuid="GPU-0"} 1024');
    expect(text).toContain('nv_gpu_memory_total_bytes{gpu_uuid="GPU-0"} 4096');
  });
});
