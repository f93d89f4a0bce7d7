import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkTrtexec, parseTrtexecOutput, runTrtexec, trtexecArgs, trtexecLoopResult } from '../../lib/bench/trtexec.js';
import { isTensorRtError } from '../../lib/errors.js';

const SAMPLE = path.resolve(__dirname, '../fixtures/trtexec-sample.txt');
const sample = readFileSync(SAMPLE, 'utf8');

// A TensorRT 8.6-style summary of a tiny model: enqueue-bound warning, older --streams.
const TINY = `&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --loadEngine=tiny.plan
[11/25/2026-15:00:00] [I] Warmup completed 9500 queries over 200 ms
[11/25/2026-15:00:03] [I] Timing trace has 142513 queries over 3.00001 s
[11/25/2026-15:00:03] [I] 
[11/25/2026-15:00:03] [I] === Performance summary ===
[11/25/2026-15:00:03] [I] Throughput: 47504.2 qps
[11/25/2026-15:00:03] [I] Latency: min = 0.0126953 ms, max = 0.0947266 ms, mean = 0.0147405 ms, median = 0.0146484 ms, percentile(90%) = 0.0153809 ms, percentile(95%) = 0.0158691 ms, percentile(99%) = 0.0180664 ms
[11/25/2026-15:00:03] [I] Enqueue Time: min = 0.0107422 ms, max = 0.0634766 ms, mean = 0.0125236 ms, median = 0.0122070 ms, percentile(90%) = 0.0134277 ms, percentile(95%) = 0.0141602 ms, percentile(99%) = 0.0166016 ms
[11/25/2026-15:00:03] [I] H2D Latency: min = 0.00317383 ms, max = 0.0214844 ms, mean = 0.00373781 ms, median = 0.00366211 ms, percentile(90%) = 0.00390625 ms, percentile(95%) = 0.00415039 ms, percentile(99%) = 0.00488281 ms
[11/25/2026-15:00:03] [I] GPU Compute Time: min = 0.00292969 ms, max = 0.0527344 ms, mean = 0.00372352 ms, median = 0.00366211 ms, percentile(90%) = 0.00390625 ms, percentile(95%) = 0.00415039 ms, percentile(99%) = 0.00512695 ms
[11/25/2026-15:00:03] [I] D2H Latency: min = 0.00610352 ms, max = 0.0224609 ms, mean = 0.00727921 ms, median = 0.00708008 ms, percentile(90%) = 0.00756836 ms, percentile(95%) = 0.00805664 ms, percentile(99%) = 0.00952148 ms
[11/25/2026-15:00:03] [I] Total Host Walltime: 3.00001 s
[11/25/2026-15:00:03] [I] Total GPU Compute Time: 0.530652 s
[11/25/2026-15:00:03] [W] * Throughput may be bound by Enqueue Time rather than GPU Compute and the GPU may be under-utilized.
[11/25/2026-15:00:03] [W]   If not already in use, --useCudaGraph (utilize CUDA graphs where possible) may increase the throughput.
[11/25/2026-15:00:03] [I] Explanations of the performance metrics are printed in the verbose logs.
[11/25/2026-15:00:03] [I] 
&&&& PASSED TensorRT.trtexec [TensorRT v8601] # trtexec --loadEngine=tiny.plan
`;

const HELP = (infStreams: boolean) => `&&&& RUNNING TensorRT.trtexec [TensorRT v${infStreams ? '100300' : '8601'}] # trtexec --help
=== Model Options ===
  --onnx=<file>               ONNX model
=== Inference Options ===
  --loadEngine=<file>         Load a serialized TensorRT engine
  --iterations=N              Run at least N inference iterations (default = 10)
  ${infStreams ? '--infStreams=N' : '--streams=N   '}              Instantiate N engines to run inference concurrently (default = 1)
&&&& PASSED TensorRT.trtexec [TensorRT v100300] # trtexec --help
`;

let tmp: string;
function script(name: string, body: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'trtn-trtexec-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('trtexec summary parser', () => {
  it('parses the sample (TensorRT 10.3, ResNet-50 FP16 batch 32)', () => {
    const s = parseTrtexecOutput(sample);
    expect(s.version).toBe('TensorRT v100300');
    expect(s.passed).toBe(true);
    expect(s.throughputQps).toBe(185.092);
    expect(s.queries).toBe(556);
    expect(s.traceSeconds).toBe(3.00391);
    expect(s.totalHostWalltimeS).toBe(3.00391);
    expect(s.totalGpuComputeTimeS).toBe(2.20766);
    expect(Object.keys(s.metrics)).toEqual(['Latency', 'Enqueue Time', 'H2D Latency', 'GPU Compute Time', 'D2H Latency']);
    expect(s.metrics['Latency']).toEqual({ min: 5.32275, max: 5.50098, mean: 5.35612, median: 5.35352, percentiles: { '90': 5.36719, '95': 5.37402, '99': 5.41797 } });
    expect(s.metrics['GPU Compute Time']!.percentiles['99']).toBe(4.02539);
    expect(s.warnings).toEqual([]);
  });

  it('maps it onto the report shape in µs, with inferences/s = qps × batch', () => {
    const r = trtexecLoopResult(parseTrtexecOutput(sample), 32, false, ['trtexec', '--loadEngine=x']);
    expect(r.method).toBe('trtexec');
    expect(r.iterations).toBe(556);
    expect(r.wallMs).toBeCloseTo(3003.91, 6);
    expect(r.throughputQps).toBe(185.092);
    expect(r.inferencesPerSecond).toBeCloseTo(185.092 * 32, 6);
    expect(r.latency.mean).toBeCloseTo(5356.12, 6);
    expect(r.latency.p99).toBeCloseTo(5417.97, 6);
    expect(r.h2d?.median).toBeCloseTo(1361.82, 6);
    expect(r.compute?.mean).toBeCloseTo(3970.62, 6);
    expect(r.d2h?.p95).toBeCloseTo(25.3906, 6);
    expect(r.enqueue?.max).toBeCloseTo(124.023, 6);
    expect(r.trtexecVersion).toBe('TensorRT v100300');
    expect(r.command).toEqual(['trtexec', '--loadEngine=x']);
  });

  it('keeps [W] lines of the summary and reads small numbers', () => {
    const s = parseTrtexecOutput(TINY);
    expect(s.version).toBe('TensorRT v8601');
    expect(s.throughputQps).toBe(47504.2);
    expect(s.metrics['H2D Latency']!.min).toBe(0.00317383);
    expect(s.warnings).toHaveLength(2);
    expect(s.warnings[0]).toMatch(/bound by Enqueue Time/);
  });

  it('reads scientific notation and custom percentiles', () => {
    const s = parseTrtexecOutput(
      '=== Performance summary ===\nThroughput: 1.5e+05 qps\nLatency: min = 5e-03 ms, max = 0.02 ms, mean = 6.1e-03 ms, median = 6e-03 ms, percentile(99.9%) = 0.019 ms\n',
    );
    expect(s.throughputQps).toBe(150000);
    expect(s.metrics['Latency']!.min).toBe(0.005);
    expect(s.metrics['Latency']!.percentiles).toEqual({ '99.9': 0.019 });
  });

  it('fails with ERR_TRT when there is no summary', () => {
    let err: unknown;
    try {
      parseTrtexecOutput('&&&& RUNNING TensorRT.trtexec [TensorRT v100300]\n[11/25/2026-15:00:00] [E] Error[1]: engine plan file is not compatible\n&&&& FAILED TensorRT.trtexec\n');
    } catch (e) {
      err = e;
    }
    expect(isTensorRtError(err, 'ERR_TRT')).toBe(true);
    expect((err as Error).message).toMatch(/no performance summary.*not compatible/);
  });
});

describe('trtexec flags', () => {
  const base = { plan: '/m/resnet.plan', warmupMs: 500, streams: 1, cudaGraph: false, dataTransfers: true };
  it('matches a duration run', () => {
    expect(trtexecArgs({ ...base, shapes: { input: [32, 3, 224, 224] }, durationMs: 2500 })).toEqual([
      '--loadEngine=/m/resnet.plan',
      '--shapes=input:32x3x224x224',
      '--duration=2.5',
      '--warmUp=500',
      '--useSpinWait',
    ]);
  });
  it('matches an iterations run with streams, graphs, no transfers, device and profile', () => {
    expect(trtexecArgs({ ...base, iterations: 1000, streams: 2, cudaGraph: true, dataTransfers: false, device: 1, profile: 1, spinWait: false, extraArgs: ['--exposeDMA'] })).toEqual([
      '--loadEngine=/m/resnet.plan',
      '--iterations=1000',
      '--duration=0',
      '--warmUp=500',
      '--infStreams=2',
      '--useCudaGraph',
      '--noDataTransfers',
      '--device=1',
      '--useProfile=1',
      '--exposeDMA',
    ]);
  });
  it('uses --streams for trtexec versions without --infStreams', () => {
    expect(trtexecArgs({ ...base, streams: 3, durationMs: 1000 }, { infStreams: false })).toContain('--streams=3');
  });
});

describe('running trtexec', () => {
  it('accepts a binary whose --help is trtexec', async () => {
    const bin = script('trtexec', `cat <<'EOF'\n${HELP(true)}EOF`);
    await expect(checkTrtexec(bin)).resolves.toEqual({ binary: bin, version: 'TensorRT v100300', infStreams: true });
    const old = script('trtexec86', `cat <<'EOF'\n${HELP(false)}EOF`);
    await expect(checkTrtexec(old)).resolves.toMatchObject({ infStreams: false });
  });

  it('rejects a binary that is not trtexec, or cannot run, with ERR_CONFIG', async () => {
    const echo = script('not-trtexec', 'echo "usage: frobnicate [--help]"');
    await expect(checkTrtexec(echo)).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/is not trtexec/) });
    await expect(checkTrtexec(path.join(tmp, 'missing'))).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/cannot be run \(ENOENT\)/) });
  });

  it('runs a fake trtexec with the matching flags and parses what it prints', async () => {
    const argsFile = path.join(tmp, 'args.txt');
    const bin = script(
      'fake-trtexec',
      `if [ "$1" = "--help" ]; then cat <<'EOF'\n${HELP(true)}EOF\nexit 0; fi\necho "$@" > '${argsFile}'\ncat '${SAMPLE}'`,
    );
    const r = await runTrtexec({ binary: bin, plan: '/m/resnet50_fp16.plan', shapes: { input: [32, 3, 224, 224] }, durationMs: 3000, warmupMs: 200, streams: 2, cudaGraph: false, dataTransfers: true, batch: 32 });
    expect(readFileSync(argsFile, 'utf8').trim()).toBe('--loadEngine=/m/resnet50_fp16.plan --shapes=input:32x3x224x224 --duration=3 --warmUp=200 --infStreams=2 --useSpinWait');
    expect(r.throughputQps).toBe(185.092);
    expect(r.inferencesPerSecond).toBeCloseTo(5922.944, 3);
    expect(r.command?.[0]).toBe(bin);
  });

  it('reports a failing trtexec as ERR_TRT', async () => {
    const bin = script('failing-trtexec', `if [ "$1" = "--help" ]; then cat <<'EOF'\n${HELP(true)}EOF\nexit 0; fi\necho "[01/01/2026-00:00:00] [E] Error: engine file not found"\necho "&&&& FAILED TensorRT.trtexec"\nexit 1`);
    await expect(runTrtexec({ binary: bin, plan: '/x.plan', durationMs: 100, warmupMs: 0, streams: 1, cudaGraph: false, dataTransfers: true, batch: 1 })).rejects.toMatchObject({
      code: 'ERR_TRT',
      message: expect.stringMatching(/no performance summary: Error: engine file not found/),
    });
  });
});
