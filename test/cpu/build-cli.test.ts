// `tensorrt-node build` on the CPU: trtexec's flags parsed strictly into build() options (profiles,
// shapes, pools, precisions), every malformed or contradictory command line refused with a typed
// error before TensorRT is looked for, the CLI's output, exit codes and Ctrl-C, driven by a fake
// build; and `bench` on an ONNX file pointing at `build`.
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBuildArgs, parseMemPoolSize, parseShapeList, runBuildCli, type BuildCliIo } from '../../lib/cli/build.js';
import { runBenchCli } from '../../lib/cli/bench.js';
import { runCli } from '../../lib/cli/cli.js';
import { TensorRtError } from '../../lib/errors.js';
import type { BuildOptions, BuildResult } from '../../lib/tensorrt/build.js';
import { NATIVE_READY, NATIVE_SKIP_REASON } from './needs-native.js';

const ONNX = path.resolve(__dirname, '../../fixtures/gpu/onnx/classifier.onnx');

function parseError(argv: string[]): TensorRtError {
  try {
    parseBuildArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(TensorRtError);
    return e as TensorRtError;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

const range = (min: number[], opt: number[], max: number[]) => ({ min, opt, max });

describe('build flags: trtexec syntax into build() options', () => {
  it('the workflow command line', () => {
    const { options } = parseBuildArgs([
      '--onnx=model.onnx',
      '--minShapes=input:1x3x224x224',
      '--optShapes=input:16x3x224x224',
      '--maxShapes=input:32x3x224x224',
      '--fp16',
      '--saveEngine=model.plan',
    ]);
    expect(options).toEqual({
      onnx: 'model.onnx',
      fp16: true,
      saveEngine: 'model.plan',
      profiles: [{ input: range([1, 3, 224, 224], [16, 3, 224, 224], [32, 3, 224, 224]) }],
    });
  });

  it('--flag value works as well as --flag=value, and the model may be the positional argument', () => {
    const a = parseBuildArgs(['--onnx', 'm.onnx', '--saveEngine', 'm.plan', '--memPoolSize', 'workspace:64']).options;
    expect(a).toEqual({ onnx: 'm.onnx', saveEngine: 'm.plan', memoryPools: { workspace: 64 * 1024 ** 2 } });
    expect(parseBuildArgs(['m.onnx', '--int8', '--calib=c.cache']).options).toEqual({ onnx: 'm.onnx', int8: true, calibrationCache: 'c.cache' });
  });

  it('several profiles: --profile=N directly followed by its shapes (trtexec getOptimizationProfiles)', () => {
    const { options } = parseBuildArgs([
      '--onnx=seq.onnx',
      '--profile=0', '--minShapes=tokens:1x1x16', '--optShapes=tokens:2x32x16', '--maxShapes=tokens:4x64x16',
      '--profile=1', '--maxShapes=tokens:32x256x16', '--minShapes=tokens:8x64x16', '--optShapes=tokens:16x128x16',
    ]);
    expect(options.profiles).toEqual([
      { tokens: range([1, 1, 16], [2, 32, 16], [4, 64, 16]) },
      { tokens: range([8, 64, 16], [16, 128, 16], [32, 256, 16]) },
    ]);
    // indices may come in any order but without gaps or repeats
    const swapped = parseBuildArgs(['--onnx=s.onnx', '--profile=1', '--optShapes=x:2', '--profile=0', '--optShapes=x:1']).options;
    expect(swapped.profiles).toEqual([{ x: range([1], [1], [1]) }, { x: range([2], [2], [2]) }]);
    expect(parseError(['--onnx=s.onnx', '--profile=0', '--optShapes=x:1', '--profile=0', '--optShapes=x:2']).message).toMatch(/--profile=0 is given twice/);
    expect(parseError(['--onnx=s.onnx', '--profile=1', '--optShapes=x:1']).message).toMatch(/profile 0 is missing/);
    expect(parseError(['--onnx=s.onnx', '--profile=0', '--fp16', '--optShapes=x:1']).message).toMatch(/must be followed directly/);
    expect(parseError(['--onnx=s.onnx', '--profile=0', '--optShapes=x:1', '--fp16', '--minShapes=x:1']).message).toMatch(/does not directly follow a --profile/);
    expect(parseError(['--onnx=s.onnx', '--profile=a', '--optShapes=x:1']).message).toMatch(/--profile must be a profile index/);
  });

  it('repeated shape flags without --profile are refused with the --profile syntax', () => {
    const e = parseError(['--onnx=m.onnx', '--minShapes=x:1x2', '--minShapes=x:2x2']);
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toMatch(/--minShapes is given more than once.*--profile=0 --minShapes/);
  });

  it("missing min/opt/max are filled as trtexec's processShapes fills them", () => {
    const only = (flag: string) => parseBuildArgs(['--onnx=m.onnx', `--${flag}=x:4x2`]).options.profiles![0]!.x;
    expect(only('optShapes')).toEqual(range([4, 2], [4, 2], [4, 2]));
    expect(only('minShapes')).toEqual(range([4, 2], [4, 2], [4, 2]));
    expect(only('maxShapes')).toEqual(range([4, 2], [4, 2], [4, 2]));
    // min + max: opt takes max; opt + max: min takes opt; min + opt: max takes opt
    expect(parseBuildArgs(['--onnx=m.onnx', '--minShapes=x:1x2', '--maxShapes=x:8x2']).options.profiles![0]!.x).toEqual(range([1, 2], [8, 2], [8, 2]));
    expect(parseBuildArgs(['--onnx=m.onnx', '--optShapes=x:4x2', '--maxShapes=x:8x2']).options.profiles![0]!.x).toEqual(range([4, 2], [4, 2], [8, 2]));
    expect(parseBuildArgs(['--onnx=m.onnx', '--minShapes=x:1x2', '--optShapes=x:4x2']).options.profiles![0]!.x).toEqual(range([1, 2], [4, 2], [4, 2]));
  });

  it('shape syntax: several inputs, quoted names with colons, scalar; malformed entries refused', () => {
    const m = parseShapeList('optShapes', "a:1x2,'in:0':3x4,s:scalar");
    expect([...m.entries()]).toEqual([['a', [1, 2]], ['in:0', [3, 4]], ['s', []]]);
    for (const bad of ['', 'input', ':1x2', 'x:1x', 'x:1xx2', 'x:-1x2', 'x:1.5', 'x:1x2,x:1x2', "'x:1x2", 'x:1x2x3x4x5x6x7x8x9', 'x:99999999999']) {
      expect(() => parseShapeList('minShapes', bad), bad).toThrow(TensorRtError);
    }
    expect(parseError(['--onnx=m.onnx', '--optShapes=input:1x3x224xabc']).message).toMatch(/malformed dimensions "1x3x224xabc" for 'input' in --optShapes/);
  });

  it('min > opt, opt > max, ranks that differ, inputs named in one flag only: typed errors naming the input', () => {
    const e = parseError(['--onnx=m.onnx', '--minShapes=x:1x2', '--optShapes=y:1x2']);
    expect(e.message).toMatch(/must name the same inputs \('x'/);
    const { options } = parseBuildArgs(['--onnx=m.onnx', '--minShapes=x:8x2', '--optShapes=x:4x2', '--maxShapes=x:16x2']);
    return import('../../lib/tensorrt/build.js').then(({ validateBuildOptions }) => {
      expect(() => validateBuildOptions(options)).toThrow(/profile 0, input 'x': dimension 0 needs min <= opt <= max, got 8 \/ 4 \/ 16/);
      const ranks = parseBuildArgs(['--onnx=m.onnx', '--minShapes=x:1x2', '--optShapes=x:4x2x1', '--maxShapes=x:16x2']).options;
      expect(() => validateBuildOptions(ranks)).toThrow(/different ranks/);
      const over = parseBuildArgs(['--onnx=m.onnx', '--optShapes=x:4x2', '--maxShapes=x:2x2']).options;
      expect(() => validateBuildOptions(over)).toThrow(/got 4 \/ 4 \/ 2/);
    });
  });

  it('--shapes sets a static profile, and only without the profile flags', () => {
    expect(parseBuildArgs(['--onnx=m.onnx', '--shapes=x:2x3']).options.profiles).toEqual([{ x: range([2, 3], [2, 3], [2, 3]) }]);
    expect(parseError(['--onnx=m.onnx', '--shapes=x:2x3', '--optShapes=x:2x3']).message).toMatch(/--shapes sets the build shapes only without/);
  });

  it('--memPoolSize: MiB by default, units B/K/M/G, fractional sizes; DLA pools and unknown pools refused', () => {
    expect(parseMemPoolSize('workspace:1024')).toEqual({ workspace: 1024 * 1024 ** 2 });
    expect(parseMemPoolSize('workspace:1.5G,tacticSharedMem:48K')).toEqual({ workspace: 1.5 * 1024 ** 3, tacticSharedMemory: 48 * 1024 });
    expect(parseMemPoolSize('workspace:4096B')).toEqual({ workspace: 4096 });
    expect(parseMemPoolSize('workspace:2g')).toEqual({ workspace: 2 * 1024 ** 3 });
    expect(() => parseMemPoolSize('dlaSRAM:1')).toThrow(/DLA/);
    expect(() => parseMemPoolSize('workspace:-1')).toThrow(/malformed size/);
    expect(() => parseMemPoolSize('workspace:1T')).toThrow(/malformed size/);
    expect(() => parseMemPoolSize('heap:1')).toThrow(/unknown memory pool "heap"/);
    expect(() => parseMemPoolSize('workspace:1,workspace:2')).toThrow(/twice/);
    expect(() => parseMemPoolSize('workspace')).toThrow(/malformed --memPoolSize entry/);
  });

  it('the other build flags map to their options', () => {
    const { options } = parseBuildArgs([
      '--onnx=m.onnx', '--bf16', '--best', '--timingCacheFile=t.cache', '--builderOptimizationLevel=5', '--avgTiming=2', '--vc', '--excludeLeanRuntime',
      '--hardwareCompatibilityLevel=Ampere+', '--noTF32', '--profilingVerbosity=detailed', '--device=1', '--skipInference',
    ]);
    expect(options).toEqual({
      onnx: 'm.onnx', bf16: true, best: true, timingCacheFile: 't.cache', builderOptimizationLevel: 5, avgTimingIterations: 2, versionCompatible: true,
      excludeLeanRuntime: true, hardwareCompatibilityLevel: 'ampere+', tf32: false, profilingVerbosity: 'detailed', device: 1,
    });
    expect(parseBuildArgs(['--onnx=m.onnx', '--stronglyTyped', '--verbose']).options).toEqual({ onnx: 'm.onnx', stronglyTyped: true, logSeverity: 'verbose' });
    expect(parseBuildArgs(['--onnx=m.onnx', '--profilingVerbosity=verbose']).options.profilingVerbosity).toBe('detailed');
  });

  it('unknown flags, inference flags, unsupported trtexec flags, bad values: typed errors naming the flag', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--onnx=m.onnx', '--minshapes=x:1'], /unknown flag --minshapes \(did you mean --minShapes\?\)/],
      [['--onnx=m.onnx', '--frobnicate'], /unknown flag --frobnicate/],
      [['--onnx=m.onnx', '--useCudaGraph'], /inference flag.*tensorrt-node bench/],
      [['--onnx=m.onnx', '--loadEngine=m.plan'], /inference flag/],
      [['--onnx=m.onnx', '--sparsity=enable'], /--sparsity is not supported/],
      [['--onnx=m.onnx', '--fp16=true'], /--fp16 takes no value/],
      [['--onnx=m.onnx', '--saveEngine'], /--saveEngine needs a value/],
      [['--onnx=m.onnx', '--saveEngine', '--fp16'], /--saveEngine needs a value/],
      [['--onnx=a.onnx', '--onnx=b.onnx'], /--onnx is given more than once/],
      [['--onnx=a.onnx', 'b.onnx'], /the model is given twice/],
      [['a.onnx', 'b.onnx'], /one model at a time/],
      [['--fp16'], /no model: give --onnx/],
      [['--onnx='], /--onnx is empty/],
      [['--onnx=m.onnx', '-x'], /unknown option -x/],
      [['--onnx=m.onnx', '--builderOptimizationLevel=6'], /0\.\.5/],
      [['--onnx=m.onnx', '--builderOptimizationLevel=-1'], /0\.\.5/],
      [['--onnx=m.onnx', '--avgTiming=0'], /positive integer/],
      [['--onnx=m.onnx', '--hardwareCompatibilityLevel=hopper+'], /none or ampere\+/],
      [['--onnx=m.onnx', '--profilingVerbosity=loud'], /layer_names_only, detailed or none/],
      [['--onnx=m.onnx', '--device=gpu0'], /GPU ordinal/],
      [['--onnx=m.onnx', '--vc', '--versionCompatible'], /more than once/],
    ];
    for (const [argv, re] of cases) {
      const e = parseError(argv);
      expect(e.code, argv.join(' ')).toBe('ERR_INVALID_ARGUMENT');
      expect(e.message, argv.join(' ')).toMatch(re);
    }
  });

  it('option combinations that cannot work are refused by validateBuildOptions', async () => {
    const { validateBuildOptions } = await import('../../lib/tensorrt/build.js');
    const bad: Array<[string[], RegExp]> = [
      [['--onnx=m.onnx', '--calib=c.cache'], /needs int8/],
      [['--onnx=m.onnx', '--excludeLeanRuntime'], /needs versionCompatible/],
      [['--onnx=m.onnx', '--stronglyTyped', '--fp16'], /strongly typed/],
    ];
    for (const [argv, re] of bad) expect(() => validateBuildOptions(parseBuildArgs(argv).options), argv.join(' ')).toThrow(re);
  });
});

function cliIo(extra: Partial<BuildCliIo> = {}): BuildCliIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { out: (l) => outLines.push(l), err: (l) => errLines.push(l), progress: false, handleSignals: false, outLines, errLines, ...extra };
}

function fakeResult(o: BuildOptions): BuildResult {
  return {
    plan: Buffer.alloc(3 * 1024 * 1024, 1),
    io: [
      { name: 'input', mode: 'input', dtype: 'float32', shape: [-1, 3, 32, 32] },
      { name: 'logits', mode: 'output', dtype: 'float32', shape: [-1, 10] },
    ],
    profiles: o.profiles?.length ?? 0,
    warnings: ['something the build chose'],
    tensorrtVersion: '10.6.0',
    device: { index: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' },
    buildMs: 12_345,
  };
}

describe('tensorrt-node build (CLI, fake build)', () => {
  it('passes the parsed options to build() and prints what it built', async () => {
    const seen: BuildOptions[] = [];
    const io = cliIo({ build: async (o) => (seen.push(o), fakeResult(o)) });
    const code = await runBuildCli([`--onnx=${ONNX}`, '--minShapes=input:1x3x32x32', '--optShapes=input:16x3x32x32', '--maxShapes=input:32x3x32x32', '--fp16', '--saveEngine=/tmp/x.plan'], io);
    expect(code, io.errLines.join('\n')).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ onnx: ONNX, fp16: true, saveEngine: '/tmp/x.plan', profiles: [{ input: range([1, 3, 32, 32], [16, 3, 32, 32], [32, 3, 32, 32]) }], logSeverity: 'warning' });
    expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(io.outLines[0]).toBe(`built /tmp/x.plan (3.0 MiB) from ${ONNX} in 12.3 s with TensorRT 10.6.0 on NVIDIA H100 80GB HBM3 (compute capability 9.0)`);
    expect(io.outLines).toContain('  input  input  float32  [-1, 3, 32, 32]');
    expect(io.outLines).toContain('  profile 0: input min 1x3x32x32  opt 16x3x32x32  max 32x3x32x32');
    expect(io.errLines).toEqual(['warning: something the build chose']);
  });

  it('usage errors exit 2 before build() is called, in one line with the code', async () => {
    let called = 0;
    const io = cliIo({ build: async (o) => (called++, fakeResult(o)) });
    expect(await runBuildCli([`--onnx=${ONNX}`, '--optShapes=input:1x3x32x32', '--maxShapes=input:0x3x32x32'], io)).toBe(2);
    expect(await runBuildCli([`--onnx=${ONNX}`, '--calib=x'], io)).toBe(2);
    expect(await runBuildCli(['--bogus'], io)).toBe(2);
    expect(called).toBe(0);
    expect(io.errLines[0]).toMatch(/^tensorrt-node build: profile 0, input 'input': dimension 0 needs min <= opt <= max.* \[ERR_INVALID_ARGUMENT\]$/);
    expect(io.errLines[2]).toMatch(/^tensorrt-node build: unknown flag --bogus.*\[ERR_INVALID_ARGUMENT\]$/);
  });

  it('a parser error exits 1 and lists the ONNX nodes; a profile that does not fit the model exits 2', async () => {
    const parseFail = new TensorRtError('ERR_ONNX_UNSUPPORTED', "TensorRT's ONNX parser rejected the model\n  - node 3 'weird' (FancyOp): UNSUPPORTED_NODE: No importer registered for op: FancyOp", {
      node: 3,
      nodeName: 'weird',
      operator: 'FancyOp',
    });
    const io = cliIo({ build: async () => Promise.reject(parseFail) });
    expect(await runBuildCli([`--onnx=${ONNX}`], io)).toBe(1);
    expect(io.errLines).toEqual([
      "tensorrt-node build: TensorRT's ONNX parser rejected the model [ERR_ONNX_UNSUPPORTED]",
      "  - node 3 'weird' (FancyOp): UNSUPPORTED_NODE: No importer registered for op: FancyOp",
    ]);
    const io2 = cliIo({ build: async () => Promise.reject(new TensorRtError('ERR_UNKNOWN_TENSOR', "profile 0 names 'inputs', which is not an input of the model (inputs: input)")) });
    expect(await runBuildCli([`--onnx=${ONNX}`, '--optShapes=inputs:1x3x32x32'], io2)).toBe(2);
  });

  it('Ctrl-C aborts the build through its signal (exit 130); a second one exits at once', async () => {
    const signals = new EventEmitter();
    const exits: number[] = [];
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const io = cliIo({
      handleSignals: true,
      signals: signals as unknown as BuildCliIo['signals'],
      exit: (c) => exits.push(c),
      build: (o) =>
        new Promise<BuildResult>((_, reject) => {
          started();
          o.signal!.addEventListener('abort', () => reject(new TensorRtError('ERR_ABORTED', 'the build was cancelled')));
        }),
    });
    const done = runBuildCli([`--onnx=${ONNX}`], io);
    await running;
    signals.emit('SIGINT', 'SIGINT');
    expect(await done).toBe(130);
    expect(io.errLines[0]).toMatch(/SIGINT: cancelling the build/);
    expect(io.errLines[1]).toBe('tensorrt-node build: the build was cancelled [ERR_ABORTED]');
    expect(signals.listenerCount('SIGINT')).toBe(0);

    // a build that ignores the first signal: the second ends the process
    let release!: () => void;
    const io2 = cliIo({ handleSignals: true, signals: signals as unknown as BuildCliIo['signals'], exit: (c) => exits.push(c), build: (o) => new Promise<BuildResult>((r) => (release = () => r(fakeResult(o)))) });
    const done2 = runBuildCli([`--onnx=${ONNX}`], io2);
    await new Promise((r) => setImmediate(r));
    signals.emit('SIGINT', 'SIGINT');
    signals.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([130]);
    release();
    await done2;
  });

  it.skipIf(!NATIVE_READY)(`without TensorRT the real build fails with ERR_TRT_NOT_FOUND (exit 1), after the flags were checked${NATIVE_SKIP_REASON}`, async () => {
    const io = cliIo();
    const code = await runBuildCli([`--onnx=${ONNX}`, '--fp16'], io);
    if (io.errLines.some((l) => l.includes('[ERR_TRT_NOT_FOUND]'))) {
      expect(code).toBe(1);
      expect(io.errLines.join('\n')).toMatch(/libnvinfer\.so\.10/);
    } else {
      // a machine with TensorRT: then it needs a GPU, or it built
      expect(io.errLines.join('\n')).toMatch(/ERR_CUDA_UNAVAILABLE|^$/);
    }
  });

  it('is registered in the tensorrt-node program: help, and a usage error', async () => {
    const out: string[] = [];
    const err: string[] = [];
    expect(await runCli(['build', '--help'], { out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(0);
    expect(out[0]).toMatch(/^Usage: tensorrt-node build --onnx=<model.onnx>/);
    expect(out.join('\n')).toMatch(/--minShapes=<v>/);
    expect(await runCli(['build', '--onnx=m.onnx', '--optShapes=x:1,x:2'], { out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(2);
    expect(err.at(-1)).toMatch(/'x' appears twice in --optShapes/);
  });
});

describe('bench on an ONNX model', () => {
  it('says that bench measures plans and how to build one, before anything is loaded (exit 2)', async () => {
    const outLines: string[] = [];
    const errLines: string[] = [];
    let ran = 0;
    const code = await runBenchCli(['models/resnet50.onnx', '--shapes', 'input:32x3x224x224'], {
      out: (l) => outLines.push(l),
      err: (l) => errLines.push(l),
      progress: false,
      run: async () => {
        ran++;
        throw new Error('not reached');
      },
    });
    expect(code).toBe(2);
    expect(ran).toBe(0);
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toMatch(/^tensorrt-node bench: models\/resnet50\.onnx is an ONNX model: bench measures TensorRT plans/);
    expect(errLines[0]).toContain('tensorrt-node build --onnx=models/resnet50.onnx --saveEngine=models/resnet50.plan');
    expect(errLines[0]).toMatch(/\[ERR_INVALID_ARGUMENT\]$/);
  });
});
