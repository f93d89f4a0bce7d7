/**
 * deploy/: what can be checked without Docker or Kubernetes.
 *  - The KServe manifests parse (yaml) and agree with each other: formats, protocols, runtime
 *    names, ports named in args, container ports, probes and the Prometheus annotation.
 *  - The server, started by the built CLI with the ServingRuntime's own command line (its
 *    /mnt/models and ports swapped for a temporary repository and free ports, nothing else),
 *    answers the probes and metrics where the manifest says, serves, and on SIGTERM finishes a
 *    request in flight, refuses new connections and exits 0.
 *  - The Dockerfile passes dockerfile-utils' linter, pins every base image and package, names no
 *    registry host, runs as a non-root user, exposes the CLI's ports, and its ENTRYPOINT + CMD
 *    start the server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli, type CliIo } from '../../lib/cli/cli.js';
import type { RunningServer } from '../../lib/server/index.js';

const ROOT = resolve(__dirname, '../..');
const DEPLOY = join(ROOT, 'deploy');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; engines: { node: string } };

interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  ports: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe: Probe;
  livenessProbe: Probe;
  securityContext: { runAsUser: number; runAsNonRoot: boolean; allowPrivilegeEscalation: boolean };
}
interface Probe {
  httpGet?: { path: string; port: number };
  tcpSocket?: { port: number };
}
interface ServingRuntime {
  apiVersion: string;
  kind: 'ServingRuntime';
  metadata: { name: string };
  spec: {
    annotations: Record<string, string>;
    supportedModelFormats: { name: string; version: string; autoSelect: boolean }[];
    protocolVersions: string[];
    containers: Container[];
  };
}
interface InferenceService {
  apiVersion: string;
  kind: 'InferenceService';
  metadata: { name: string };
  spec: { predictor: { model: { runtime: string; modelFormat: { name: string; version: string }; storageUri: string; protocolVersion?: string } } };
}

/** Every document of every deploy/kserve/*.yaml, parsed strictly (a YAML error or warning fails). */
function manifests(): Array<ServingRuntime | InferenceService> {
  const out: Array<ServingRuntime | InferenceService> = [];
  for (const f of ['servingruntime.yaml', 'servingruntime-grpc.yaml', 'inferenceservice.yaml', 'inferenceservice-grpc.yaml']) {
    for (const doc of parseAllDocuments(readFileSync(join(DEPLOY, 'kserve', f), 'utf8'), { strict: true, uniqueKeys: true })) {
      expect([...doc.errors, ...doc.warnings].map(String), f).toEqual([]);
      out.push(doc.toJS() as ServingRuntime | InferenceService);
    }
  }
  return out;
}

/** The value of `--flag=value` in a command line. */
function flag(args: string[], name: string): string | undefined {
  const a = args.find((x) => x.startsWith(`${name}=`));
  return a?.slice(name.length + 1);
}

/** Polls `cond` until it holds; fails naming `what` after `ms`. */
async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '0.0.0.0', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = createConnection({ port, host: '127.0.0.1' });
    c.once('connect', () => {
      c.destroy();
      res(true);
    });
    c.once('error', () => res(false));
  });
}

let tmp: string;
let repo: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'trtn-deploy-'));
  // /mnt/models as KServe's storage initializer leaves it: a Triton repository. affine waits up
  // to 3 s for a batch to fill, so a single request is still in flight when SIGTERM comes.
  repo = join(tmp, 'mnt', 'models');
  cpSync(join(ROOT, 'examples', 'models', 'affine'), join(repo, 'affine'), { recursive: true });
  writeFileSync(
    join(repo, 'affine', 'config.pbtxt'),
    `${readFileSync(join(repo, 'affine', 'config.pbtxt'), 'utf8')}dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: 3000000 }\n`,
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('KServe manifests (deploy/kserve)', () => {
  it('parse, and the runtimes serve tensorrt and onnx over v2 REST and gRPC from /mnt/models', () => {
    const all = manifests();
    const runtimes = all.filter((m): m is ServingRuntime => m.kind === 'ServingRuntime');
    expect(runtimes.map((r) => r.metadata.name).sort()).toEqual(['tensorrt-node', 'tensorrt-node-grpc']);
    for (const r of runtimes) {
      expect(r.apiVersion).toBe('serving.kserve.io/v1alpha1');
      expect(r.spec.supportedModelFormats.map((f) => f.name).sort()).toEqual(['onnx', 'tensorrt']);
      expect(r.spec.protocolVersions.sort()).toEqual(['grpc-v2', 'v2']);
      expect(r.spec.containers).toHaveLength(1);
      const c = r.spec.containers[0]!;
      expect(c.name).toBe('kserve-container');
      expect(c.command).toEqual(['tensorrt-node']);
      expect(c.args[0]).toBe('serve');
      expect(flag(c.args, '--model-repository')).toBe('/mnt/models');
      expect(flag(c.args, '--host')).toBe('0.0.0.0');
      expect(flag(c.args, '--http-port')).toBe('8080'); // KServe's REST port
      expect(flag(c.args, '--grpc-port')).toBe('9000'); // KServe's gRPC port (h2c)
      expect(flag(c.args, '--metrics-port')).toBe(r.spec.annotations['prometheus.kserve.io/port']);
      expect(r.spec.annotations['prometheus.kserve.io/path']).toBe('/metrics');
      expect(c.securityContext).toMatchObject({ runAsUser: 1000, runAsNonRoot: true, allowPrivilegeEscalation: false });
      // the pod's default 30 s grace period outlasts the drain
      expect(Number(flag(c.args, '--exit-timeout-secs'))).toBeLessThan(30);
      // probes and the routed port agree with the ports the server is told to use
      expect(c.ports).toHaveLength(1);
      const routed = c.ports[0]!;
      for (const p of [c.readinessProbe, c.livenessProbe]) {
        const port = p.httpGet?.port ?? p.tcpSocket?.port;
        expect(port, r.metadata.name).toBe(routed.containerPort);
      }
      if (r.metadata.name === 'tensorrt-node') {
        expect(routed.containerPort).toBe(8080);
        expect(c.readinessProbe.httpGet?.path).toBe('/v2/health/ready');
        expect(c.livenessProbe.httpGet?.path).toBe('/v2/health/live');
      } else {
        expect(routed).toMatchObject({ name: 'h2c', containerPort: 9000 });
      }
    }
    const services = all.filter((m): m is InferenceService => m.kind === 'InferenceService');
    expect(services).toHaveLength(2);
    for (const s of services) {
      expect(s.apiVersion).toBe('serving.kserve.io/v1beta1');
      const model = s.spec.predictor.model;
      const runtime = runtimes.find((r) => r.metadata.name === model.runtime);
      expect(runtime, model.runtime).toBeDefined();
      expect(runtime!.spec.supportedModelFormats).toContainEqual(expect.objectContaining(model.modelFormat));
      expect(model.storageUri).toMatch(/^[a-z0-9]+:\/\//);
      if (model.runtime === 'tensorrt-node-grpc') expect(model.protocolVersion).toBe('grpc-v2');
    }
  });

  it.runIf(existsSync(CLI))("the server run with the runtime's command line answers the probes and metrics where the manifest says, and drains on SIGTERM", async () => {
    const runtime = manifests().find((m): m is ServingRuntime => m.kind === 'ServingRuntime' && m.metadata.name === 'tensorrt-node')!;
    const c = runtime.spec.containers[0]!;
    const ports = { '--http-port': await freePort(), '--grpc-port': await freePort(), '--metrics-port': await freePort() };
    // the manifest's arguments, with only the repository path and the port numbers replaced
    const args = c.args.map((a) => {
      const [name] = a.split('=');
      if (name === '--model-repository') return `--model-repository=${repo}`;
      if (name! in ports) return `${name}=${ports[name as keyof typeof ports]}`;
      return a;
    });
    const port = (manifestPort: number) => (manifestPort === 8080 ? ports['--http-port'] : manifestPort === 9000 ? ports['--grpc-port'] : ports['--metrics-port']);
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TENSORRT_LIB_DIR: '/nonexistent' } });
      let stdout = '';
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no start: ${stdout} ${stderr}`)), 60_000);
        child!.stdout!.on('data', (d) => {
          stdout += d;
          if (/metrics listening/.test(stdout)) {
            clearTimeout(t);
            res();
          }
        });
        void exited.then((code) => rej(new Error(`exited ${code}: ${stdout} ${stderr}`)));
      });
      expect(stdout).toMatch(/model affine version 1: READY/);
      expect(stdout).toMatch(new RegExp(`HTTP\\s+listening on http://0\\.0\\.0\\.0:${ports['--http-port']}`));
      // the probes, at the manifest's paths and ports
      for (const p of [c.readinessProbe, c.livenessProbe]) {
        expect((await fetch(`http://127.0.0.1:${port(p.httpGet!.port)}${p.httpGet!.path}`)).status).toBe(200);
      }
      const metrics = `http://127.0.0.1:${port(Number(runtime.spec.annotations['prometheus.kserve.io/port']))}${runtime.spec.annotations['prometheus.kserve.io/path']}`;
      expect(await (await fetch(metrics)).text()).toContain('nv_inference_count');
      expect(await connects(ports['--grpc-port'])).toBe(true); // the gRPC variant's TCP probe
      // a request that waits in the batcher's queue (3 s delay) when SIGTERM arrives; on a
      // connection that is not kept alive (a keep-alive connection that is busy when the
      // server starts closing holds its close until the client drops it)
      const url = `http://127.0.0.1:${ports['--http-port']}/v2/models/affine/infer`;
      const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] });
      const inFlight = fetch(url, { method: 'POST', headers: { connection: 'close' }, body });
      const queued = /^nv_inference_pending_request_count\{model="affine",version="1"\} 1$/m;
      await until('the request to wait in the queue', async () => queued.test(await (await fetch(metrics)).text()));
      child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual([3, 5, 7, 9]);
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))])).toBe(0);
      expect(stdout).toMatch(/SIGTERM: shutting down/);
      expect(stdout).toMatch(/stopped/);
      expect(await connects(ports['--http-port'])).toBe(false);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  const df = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  for (const i of df.getInstructions()) {
    if (i.getKeyword() !== 'ARG') continue;
    const p = (i as unknown as { getProperty(): { getName(): string; getValue(): string | null } | null }).getProperty();
    if (p?.getValue() != null) args.set(p.getName(), p.getValue()!);
  }
  const expand = (s: string) => s.replace(/\$\{(\w+)\}/g, (_m, n: string) => args.get(n) ?? `\${${n}}`);
  const json = (keyword: string) => {
    const all = df.getInstructions().filter((i) => i.getKeyword() === keyword);
    expect(all, keyword).toHaveLength(1);
    return JSON.parse(all[0]!.getArgumentsContent()!) as string[];
  };

  it('passes the linter (which does find problems: a broken Dockerfile fails it)', () => {
    const problems = validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
    expect(validate('FROM\nEXPOSE eighty\nCMD ["unterminated"\n').length).toBeGreaterThan(0);
  });

  it('pins what it builds from, names no registry host, and matches the package (Node 20, TensorRT 10, the tested onnxruntime-node)', () => {
    for (const from of df.getFROMs()) {
      const image = expand(from.getImageName() ?? '');
      const ref = expand(`${from.getImageName()}${from.getImageTag() ? `:${from.getImageTag()}` : ''}`);
      if (image === 'node' && from.getImageTag() === null && !ref.includes(':')) continue; // FROM node AS app: the earlier stage
      expect(ref, 'a tag on every base image').toMatch(/:[\w.-]+$/);
      expect(ref).not.toMatch(/:latest$/);
      // Docker Hub's short names: the host of a registry is the user's choice (BASE_IMAGE)
      const first = ref.split('/')[0]!;
      expect(ref.includes('/') && (/[.:]/.test(first) || first === 'localhost'), ref).toBe(false);
    }
    expect(args.get('NODE_VERSION')).toMatch(/^20\.\d+\.\d+$/);
    expect(pkg.engines.node).toBe('>=20');
    expect(args.get('TENSORRT_VERSION')).toMatch(/^10\.\d+\.\d+\.\d+-\d+\+cuda\d+\.\d+$/);
    expect(args.get('ONNXRUNTIME_NODE_VERSION')).toBe(pkg.devDependencies['onnxruntime-node']);
    expect(text).not.toMatch(/https?:\/\/(?!127\.0\.0\.1[:/])/); // no download from anywhere
    // apt: no recommends, the TensorRT version pinned, lists removed; npm: no dev deps, no install scripts
    const runs = df.getInstructions().filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '');
    const apt = runs.find((r) => r.includes('apt-get install'))!;
    expect(apt).toMatch(/--no-install-recommends/);
    expect(apt).toMatch(/libnvinfer10=\$\{TENSORRT_VERSION\}/);
    expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    const npm = runs.find((r) => r.includes('npm install'))!;
    expect(npm).toMatch(/--omit=dev/);
    expect(npm).toMatch(/--ignore-scripts/);
    expect(npm).toMatch(/tensorrt-node\.napi\.node/); // the build stops without the prebuild
  });

  it('runs as a non-root user, exposes the CLI default ports, probes a path the server answers', () => {
    const keywords = df.getInstructions().map((i) => i.getKeyword());
    const user = df.getInstructions().filter((i) => i.getKeyword() === 'USER').at(-1)!;
    expect(user.getArgumentsContent()).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(keywords.lastIndexOf('USER')).toBeLessThan(keywords.lastIndexOf('ENTRYPOINT'));
    const expose = df.getInstructions().find((i) => i.getKeyword() === 'EXPOSE')!;
    expect(expose.getArgumentsContent()!.split(/\s+/).map(Number)).toEqual([8000, 8001, 8002]);
    const health = df.getInstructions().find((i) => i.getKeyword() === 'HEALTHCHECK')!;
    expect(health.getArgumentsContent()).toContain('http://127.0.0.1:8000/v2/health/ready');
  });

  it('ENTRYPOINT + CMD, with /mnt/models swapped for a repository and free ports, start the server', async () => {
    const entry = json('ENTRYPOINT');
    const cmd = json('CMD');
    expect(entry).toEqual(['tensorrt-node']);
    expect(text).toMatch(/ln -s \/opt\/tensorrt-node\/node_modules\/tensorrt-node\/dist\/cli\/main\.js \/usr\/local\/bin\/tensorrt-node/);
    const argv = [...cmd.map((a) => (a === '--model-repository=/mnt/models' ? `--model-repository=${repo}` : a)), '--http-port=0', '--grpc-port=0', '--metrics-port=0', '--grpc-workers=0'];
    let server: RunningServer | undefined;
    const lines: string[] = [];
    const io: CliIo = { out: (l) => lines.push(l), err: (l) => lines.push(l), handleSignals: false, onServe: (s) => (server = s) };
    expect(await runCli(argv, io), lines.join('\n')).toBe(0);
    try {
      expect(server!.host).toBe('0.0.0.0');
      expect((await fetch(`http://127.0.0.1:${server!.httpPort}/v2/health/ready`)).status).toBe(200);
    } finally {
      await server?.close();
    }
  });
});
