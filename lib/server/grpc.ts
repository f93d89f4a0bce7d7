/**
 * KServe v2 / Triton gRPC front end (package inference, service GRPCInferenceService), on
 * @grpc/grpc-js with the protocol loaded from proto/grpc_service.proto at start.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { TensorRtError } from '../errors.js';
import type { ModelRepository } from '../repository/repository.js';
import {
  SERVER_NAME,
  SERVER_VERSION,
  buildInputs,
  checkTensorCounts,
  errorMessage,
  grpcStatusFor,
  kserveOutputDatatype,
  modelMetadata,
  requestOptions,
  requestedOutputs,
  serverExtensions,
  sharedMemoryOutputBuffers,
  statisticsJson,
  tensorBytes,
  type WireInput,
} from './codec.js';
import { grpcHttp2Servers } from './internals/grpc-js.js';
import { RequestRefused, guardedDeserializer } from './request-guards.js';
import { SystemSharedMemory, cudaShmUnsupported, noCudaRegion, type SharedMemoryRef } from './shared-memory.js';

export interface GrpcServerOptions {
  repository: ModelRepository;
  /** largest message accepted, bytes (default 64 MiB) */
  maxMessageBytes?: number;
  /** folder holding grpc_service.proto and model_config.proto (default: the package's proto/) */
  protoDir?: string;
  /**
   * HTTP/2 receive window the server grants each connection and each stream, bytes (default
   * 16 MiB; 65535 keeps Node's default). With Node's 64 KiB window a client can send only 64 KiB
   * per connection before waiting a round trip for WINDOW_UPDATE, which caps uploads of large
   * tensors (a 602,112-byte ResNet-50 image takes ~10 round trips, shared by every call on the
   * connection). grpc-js 1.14 has no server option for this (its `grpc-node.flow_control_window`
   * is read by the client only), so listenGrpc() sets it on each session. Applied by listenGrpc().
   */
  flowControlWindowBytes?: number;
  /**
   * Front-end threads for startGrpcServer() (createGrpcServer() always builds the in-thread
   * server): worker threads that do the HTTP/2 framing and protobuf work of the connections,
   * each call running on the main thread. 0 serves gRPC on the main thread. Default 'auto':
   * min(4, max(1, floor(os.availableParallelism() / 4))), see autoGrpcWorkers().
   */
  workers?: number | 'auto';
  /**
   * the system shared-memory regions (shared with the HTTP front end by startServer); default: a
   * registry of this server's own, with the extension off (see SystemSharedMemoryOptions.enabled)
   */
  sharedMemory?: SystemSharedMemory;
  /**
   * A call whose request message stops arriving (no byte for this long, ms) is ended with
   * DEADLINE_EXCEEDED and its stream reset, which frees what it had received. Applied by
   * listenGrpc() and the front-end threads. Default 30 000.
   */
  requestIdleTimeoutMs?: number;
  /**
   * A new connection must start its first call within this, ms, or it is closed (what HTTP's
   * header timeout does to a connection that sends nothing). A connection idle between calls is
   * left open, as Triton leaves it. Applied as requestIdleTimeoutMs. Default 20 000.
   */
  firstCallTimeoutMs?: number;
}

/** The timeouts on slow and stalled gRPC clients (GrpcServerOptions.requestIdleTimeoutMs, firstCallTimeoutMs), ms. */
export interface GrpcTimeouts {
  requestIdleMs: number;
  firstCallMs: number;
}

/** Default GrpcServerOptions.requestIdleTimeoutMs. */
export const DEFAULT_REQUEST_IDLE_TIMEOUT_MS = 30_000;
/** Default GrpcServerOptions.firstCallTimeoutMs. */
export const DEFAULT_FIRST_CALL_TIMEOUT_MS = 20_000;

/** Node's (and HTTP/2's) initial window, bytes. */
const HTTP2_DEFAULT_WINDOW = 65_535;
/** HTTP/2's largest window, bytes (2^31 - 1). */
const HTTP2_MAX_WINDOW = 2 ** 31 - 1;
const flowControlWindows = new WeakMap<grpc.Server, number>();
const grpcTimeouts = new WeakMap<grpc.Server, GrpcTimeouts>();

/** Find the package's proto/ folder from this module's location (source or bundled dist). */
export function findProtoDir(): string {
  const here = typeof __dirname === 'string' ? __dirname : path.dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, 'proto', 'grpc_service.proto');
    if (fs.existsSync(p)) return path.dirname(p);
    dir = path.dirname(dir);
  }
  throw new TensorRtError('ERR_CONFIG', `proto/grpc_service.proto not found above ${here}`);
}

interface InferParameter {
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  double_param?: number;
  uint64_param?: number;
  parameter_choice?: string;
}

function paramValue(p: InferParameter | undefined): unknown {
  if (!p) return undefined;
  const k = p.parameter_choice as keyof InferParameter | undefined;
  return k ? p[k] : undefined;
}

/** A parameters map's values: { name: value } instead of { name: { <type>_param: value, parameter_choice } }. */
function paramsObject(m: Record<string, InferParameter> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m == null) return out;
  for (const k of Object.keys(m)) out[k] = paramValue(m[k]);
  return out;
}

const CONTENTS_FIELD: Record<string, string> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  INT64: 'int64_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

/** The unary methods this server implements; the proto's other methods answer UNIMPLEMENTED. */
export const GRPC_METHODS = [
  'ServerLive',
  'ServerReady',
  'ModelReady',
  'ServerMetadata',
  'ModelMetadata',
  'ModelConfig',
  'ModelStatistics',
  'RepositoryIndex',
  'RepositoryModelLoad',
  'RepositoryModelUnload',
  'ModelInfer',
  'SystemSharedMemoryStatus',
  'SystemSharedMemoryRegister',
  'SystemSharedMemoryUnregister',
  'CudaSharedMemoryStatus',
  'CudaSharedMemoryRegister',
  'CudaSharedMemoryUnregister',
] as const;
export type GrpcMethod = (typeof GRPC_METHODS)[number];

/**
 * One handler per method: the decoded request (proto-loader's plain object) in, the response
 * object out; a thrown error becomes a gRPC status through grpcStatusFor(). The in-thread
 * server and the bridge from the front-end worker threads (grpc-workers.ts) run these same
 * functions on the main thread. (`any`: the request shapes are the proto's, already checked by
 * protobufjs.)
 */
export type GrpcHandlers = Record<GrpcMethod, (request: any) => unknown>;

/**
 * Load GRPCInferenceService from grpc_service.proto in `protoDir`. Each method's request
 * deserializer is guarded (request-guards.ts): a request over REQUEST_LIMITS, or one that does
 * not decode, reaches the handler as a RequestRefused, answered with INVALID_ARGUMENT.
 */
export function loadGrpcService(protoDir: string): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(path.join(protoDir, 'grpc_service.proto'), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [protoDir],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  const service = pkg.inference.GRPCInferenceService.service;
  for (const [method, m] of Object.entries(service)) {
    (m as { requestDeserialize: (b: Buffer) => unknown }).requestDeserialize = guardedDeserializer(method, m.requestDeserialize);
  }
  return service;
}

/** The status for a request refused before decoding (RequestRefused), or undefined for a decoded one. */
export function refusedStatus(request: unknown): { code: number; details: string } | undefined {
  return request instanceof RequestRefused ? { code: grpc.status.INVALID_ARGUMENT, details: request.message } : undefined;
}

/** Default largest message, bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Default HTTP/2 receive window, bytes (see GrpcServerOptions.flowControlWindowBytes). */
export const DEFAULT_FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;

/** The flow-control window to use, checked. */
export function checkFlowControlWindow(window: number): number {
  if (!Number.isInteger(window) || window < HTTP2_DEFAULT_WINDOW || window > HTTP2_MAX_WINDOW) {
    throw new TensorRtError('ERR_INVALID_ARGUMENT', `flowControlWindowBytes must be an integer in [${HTTP2_DEFAULT_WINDOW}, ${HTTP2_MAX_WINDOW}], got ${window}`);
  }
  return window;
}

/** A grpc-js server with the message-size limits, not yet bound or injected into. */
export function newGrpcServer(maxMessageBytes: number): grpc.Server {
  return new grpc.Server({ 'grpc.max_receive_message_length': maxMessageBytes, 'grpc.max_send_message_length': maxMessageBytes });
}

/** grpc-js's unary handler around one of GrpcHandlers: errors become a status code and details. */
function unary(fn: (request: unknown) => unknown) {
  return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const refused = refusedStatus(call.request);
    if (refused) return callback(refused);
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (e: unknown) => callback({ code: grpcStatusFor(e), details: errorMessage(e) }),
      );
  };
}

/** Build the grpc-js server with every handler bound (not yet listening); runs on this thread. */
export function createGrpcServer(options: GrpcServerOptions): grpc.Server {
  const service = loadGrpcService(options.protoDir ?? findProtoDir());
  const server = newGrpcServer(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  flowControlWindows.set(server, checkFlowControlWindow(options.flowControlWindowBytes ?? DEFAULT_FLOW_CONTROL_WINDOW));
  grpcTimeouts.set(server, checkGrpcTimeouts(options));
  const handlers = createGrpcHandlers(options.repository, options.sharedMemory);
  server.addService(service, Object.fromEntries(GRPC_METHODS.map((m) => [m, unary(handlers[m])])));
  return server;
}

/** A decoded ModelInferRequest; its parameters maps hold P (protobuf's oneof wrappers, or their values once flattened). */
interface ModelInferRequest<P = InferParameter> {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, P>;
  inputs: Array<{ name: string; datatype: string; shape: number[]; parameters: Record<string, P>; contents: Record<string, unknown[]> | null }>;
  outputs: Array<{ name: string; parameters: Record<string, P> }>;
  raw_input_contents: Uint8Array[];
}

/** A ModelInferRequest after flattenModelInferRequest(): every parameters map holds plain values. */
type FlatModelInferRequest = ModelInferRequest<unknown>;

/**
 * Replace, in place, the parameters maps of a decoded ModelInferRequest (the request's, each
 * input's and each requested output's) by their values ({ name: value }), the form modelInfer
 * reads. The gRPC front-end threads do this before passing a call to the main thread (less to
 * clone and to read there). Never throws: what is not of the shape expected is left as it is,
 * for modelInfer to reject.
 */
export function flattenModelInferRequest(request: unknown): void {
  if (request === null || typeof request !== 'object') return;
  const r = request as { parameters?: unknown; inputs?: unknown; outputs?: unknown };
  r.parameters = paramsObject(r.parameters as Record<string, InferParameter> | undefined);
  for (const list of [r.inputs, r.outputs]) {
    if (!Array.isArray(list)) continue;
    for (const t of list as Array<{ parameters?: unknown } | null>) {
      if (t !== null && typeof t === 'object') t.parameters = paramsObject(t.parameters as Record<string, InferParameter> | undefined);
    }
  }
}

/** flattenModelInferRequest's result as a new object, the caller's left as it is. */
function flattenedCopy(r: ModelInferRequest): FlatModelInferRequest {
  if (r === null || typeof r !== 'object') return r as unknown as FlatModelInferRequest;
  const copy = (list: unknown): unknown => (Array.isArray(list) ? list.map((t: unknown) => (t !== null && typeof t === 'object' ? { ...t } : t)) : list);
  const flat = { ...r, inputs: copy(r.inputs), outputs: copy(r.outputs) };
  flattenModelInferRequest(flat);
  return flat as unknown as FlatModelInferRequest;
}

type NameVersion = { name: string; version: string };

/**
 * The handlers that the main thread runs for calls forwarded by the gRPC front-end threads: those
 * of createGrpcHandlers, except that ModelInfer takes a request already flattened by
 * flattenModelInferRequest() (grpc-worker.ts does that before posting it).
 */
export function createBridgedGrpcHandlers(repo: ModelRepository, shm: SystemSharedMemory): GrpcHandlers {
  return { ...createGrpcHandlers(repo, shm), ModelInfer: (r: FlatModelInferRequest) => modelInfer(repo, shm, r) };
}

/** The KServe v2 gRPC methods over `repo` (and the shared-memory regions of `shm`). */
export function createGrpcHandlers(repo: ModelRepository, shm: SystemSharedMemory = new SystemSharedMemory({ enabled: false })): GrpcHandlers {
  return {
    ServerLive: () => ({ live: true }),
    ServerReady: () => ({ ready: repo.isReady() }),
    ModelReady: (r: NameVersion) => {
      if (!r.name) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'model name is required');
      return { ready: repo.isModelReady(r.name, r.version || undefined) };
    },
    ServerMetadata: () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: serverExtensions(shm) }),
    ModelMetadata: (r: NameVersion) => {
      const m = repo.getModel(r.name, r.version || undefined);
      const versions = r.version ? [String(m.version)] : repo.loadedVersions().filter((l) => l.name === m.name).map((l) => String(l.version));
      return modelMetadata(m, versions);
    },
    ModelConfig: (r: NameVersion) => ({ config: repo.getModel(r.name, r.version || undefined).config }),
    ModelStatistics: (r: NameVersion) => ({
      model_stats: repo.statistics(r.name || undefined, r.version || undefined).map((s) => statisticsJson(s.name, s.version, s.stats)),
    }),
    RepositoryIndex: async (r: { ready: boolean }) => ({
      models: (await repo.index({ readyOnly: r.ready })).map((e) => ({ name: e.name, version: e.version ?? '', state: e.state ?? '', reason: e.reason ?? '' })),
    }),
    RepositoryModelLoad: async (r: { model_name: string; parameters: Record<string, unknown> }) => {
      if (Object.keys(r.parameters ?? {}).some((k) => k === 'config' || k.startsWith('file:'))) {
        throw new TensorRtError('ERR_INVALID_ARGUMENT', 'load parameters "config" and "file:" overrides are not supported');
      }
      await repo.load(r.model_name).catch((e: unknown) => {
        throw grpcStatusFor(e) === 5 || grpcStatusFor(e) === 3 ? e : new TensorRtError('ERR_INVALID_ARGUMENT', errorMessage(e));
      });
      return {};
    },
    RepositoryModelUnload: async (r: { model_name: string }) => {
      await repo.unload(r.model_name);
      return {};
    },
    ModelInfer: (r: ModelInferRequest) => modelInfer(repo, shm, flattenedCopy(r)),
    SystemSharedMemoryStatus: (r: { name: string }) => ({
      regions: Object.fromEntries(shm.status(r.name || undefined).map((x) => [x.name, { name: x.name, key: x.key, offset: x.offset, byte_size: x.byteSize }])),
    }),
    SystemSharedMemoryRegister: (r: { name: string; key: string; offset: number; byte_size: number }) => {
      shm.register(r.name, r.key, r.offset, r.byte_size);
      return {};
    },
    SystemSharedMemoryUnregister: (r: { name: string }) => {
      shm.unregister(r.name || undefined);
      return {};
    },
    // no CUDA shared memory, answered as a Triton built without GPUs answers (perf_analyzer
    // unregisters all CUDA regions after its system shared-memory runs)
    CudaSharedMemoryStatus: (r: { name: string }) => {
      if (r.name) throw noCudaRegion(r.name);
      return { regions: {} };
    },
    CudaSharedMemoryRegister: (r: { name: string }) => {
      throw cudaShmUnsupported(r.name);
    },
    CudaSharedMemoryUnregister: () => ({}),
  };
}

/** The names of an input's InferTensorContents fields that hold data. */
function filledContents(contents: Record<string, unknown[]> | null | undefined): string[] {
  const filled: string[] = [];
  if (contents == null) return filled;
  for (const [k, v] of Object.entries(contents)) if (Array.isArray(v) && v.length > 0) filled.push(k);
  return filled;
}

async function modelInfer(repo: ModelRepository, shm: SystemSharedMemory, r: FlatModelInferRequest): Promise<unknown> {
  const model = repo.getModel(r.model_name, r.model_version || undefined);
  checkTensorCounts(model, r.inputs.length, r.outputs.length);
  const raw = r.raw_input_contents ?? [];
  // the shared-memory regions the request reads or writes: checked again once it is done
  const used = new Set<string>();
  // inputs in shared memory have no raw_input_contents entry: the others take them in order
  const n = r.inputs.length;
  const inShm: Array<Uint8Array | undefined> = new Array(n);
  let rawCount = 0;
  for (let i = 0; i < n; i++) {
    const inp = r.inputs[i]!;
    const bytes = shm.inputBytes(inp.parameters, inp.name, used);
    inShm[i] = bytes;
    if (bytes === undefined) rawCount++;
  }
  if (raw.length > 0 && raw.length !== rawCount) {
    throw new TensorRtError('ERR_INVALID_ARGUMENT', `raw_input_contents has ${raw.length} entries for ${rawCount} inputs not in shared memory`);
  }
  let nextRaw = 0;
  const wire: WireInput[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const inp = r.inputs[i]!;
    const w: WireInput = { name: inp.name, datatype: inp.datatype, shape: inp.shape };
    const fromShm = inShm[i];
    if (fromShm) {
      if (filledContents(inp.contents).length) throw new TensorRtError('ERR_INVALID_ARGUMENT', `input "${inp.name}" has both contents and shared memory`);
      w.raw = fromShm;
    } else if (raw.length > 0) {
      if (filledContents(inp.contents).length) throw new TensorRtError('ERR_INVALID_ARGUMENT', `input "${inp.name}" has both contents and raw_input_contents`);
      w.raw = raw[nextRaw++]!;
    } else {
      const contents = inp.contents ?? {};
      const field = CONTENTS_FIELD[inp.datatype];
      const other = filledContents(contents).find((k) => k !== field);
      if (other) throw new TensorRtError('ERR_INVALID_ARGUMENT', `input "${inp.name}" of datatype ${inp.datatype} has data in ${other}`);
      w.typed = (field ? (contents[field] as Array<number | boolean>) : undefined) ?? [];
    }
    wire[i] = w;
  }
  const names = requestedOutputs(model, r.outputs.length ? r.outputs.map((o) => o.name) : undefined);
  for (const o of r.outputs) if (o.parameters?.classification !== undefined) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'the classification extension is not supported');
  const inputs = buildInputs(model, wire);
  let outShm: Map<string, SharedMemoryRef> | undefined;
  for (const o of r.outputs) {
    const ref = shm.outputRef(o.parameters, o.name);
    if (ref) {
      (outShm ??= new Map()).set(o.name, ref);
      used.add(ref.region);
    }
  }
  const options = requestOptions(r.parameters, names);
  const buffers = sharedMemoryOutputBuffers(model, inputs, outShm, shm);
  if (buffers) options.outputBuffers = buffers;
  const result = await model.scheduler.infer(inputs, options);
  // as Triton answers: raw_output_contents[i] belongs to outputs[i] for every output, and an
  // output written to shared memory has empty contents and no parameters (tritonclient's C++
  // client, perf_analyzer's, indexes raw_output_contents by output and crashes on a shorter list)
  const outputs: unknown[] = [];
  const rawOut: Buffer[] = [];
  for (const name of names) {
    const t = result[name];
    if (!t) throw new TensorRtError('ERR_BACKEND', `the model did not produce output "${name}"`);
    const ref = outShm?.get(name);
    outputs.push({ name, datatype: kserveOutputDatatype(t), shape: [...t.dims] });
    if (ref) {
      shm.writeOutput(ref, name, t);
      rawOut.push(EMPTY);
    } else rawOut.push(tensorBytes(t));
  }
  if (used.size > 0) shm.checkAfterUse(used);
  return { model_name: model.name, model_version: String(model.version), id: r.id, outputs, raw_output_contents: rawOut };
}

/** the raw_output_contents of an output written to shared memory */
const EMPTY = Buffer.alloc(0);

/** A timeout option in ms, checked: an integer in [1, 2^31 - 1] (Node's timers). */
function checkTimeout(ms: number, what: string): number {
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 2 ** 31 - 1) throw new TensorRtError('ERR_INVALID_ARGUMENT', `${what} must be an integer in [1, ${2 ** 31 - 1}], got ${ms}`);
  return ms;
}

/** The timeouts that `options` ask for (defaults where they say nothing), checked. */
export function checkGrpcTimeouts(options: Pick<GrpcServerOptions, 'requestIdleTimeoutMs' | 'firstCallTimeoutMs'>): GrpcTimeouts {
  return {
    requestIdleMs: checkTimeout(options.requestIdleTimeoutMs ?? DEFAULT_REQUEST_IDLE_TIMEOUT_MS, 'requestIdleTimeoutMs'),
    firstCallMs: checkTimeout(options.firstCallTimeoutMs ?? DEFAULT_FIRST_CALL_TIMEOUT_MS, 'firstCallTimeoutMs'),
  };
}

/** What has been set on an http2 server of grpc-js (its listeners are added once). */
interface Http2Settings {
  window?: number;
  requestIdleMs?: number;
  firstCallMs?: number;
}
const SETTINGS = Symbol('tensorrt-node.http2Settings');

/** Raise a session's receive windows: per stream (SETTINGS_INITIAL_WINDOW_SIZE) and the connection's. */
function widenSession(session: http2.ServerHttp2Session, window: number): void {
  if (session.destroyed) return;
  try {
    session.settings({ initialWindowSize: window });
    session.setLocalWindowSize(window);
  } catch {
    // a session closing under us: nothing to widen
  }
}

/**
 * End a call whose request stopped arriving: after `ms` with no frame on its stream while the
 * client has not finished sending (a call waiting for its answer is not stalled), answer
 * DEADLINE_EXCEEDED (when nothing was answered yet) and reset the stream, which frees the part of
 * the message received.
 */
function watchRequest(stream: http2.ServerHttp2Stream, ms: number): void {
  stream.setTimeout(ms, () => {
    if (stream.destroyed || stream.closed || stream.readableEnded) return;
    try {
      if (!stream.headersSent) {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpc.status.DEADLINE_EXCEEDED), 'grpc-message': encodeURI(`the request message stopped arriving: no data for ${ms} ms`) },
          { endStream: true },
        );
      }
    } catch {
      // the stream is closing: resetting it below is all there is to do
    }
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
}

/** Close a connection that has not started a call `ms` after it opened (nothing else would: grpc-js keeps silent connections). */
function watchFirstCall(session: http2.ServerHttp2Session, ms: number): void {
  const timer = setTimeout(() => {
    if (!session.destroyed) session.destroy();
  }, ms);
  timer.unref();
  const stop = (): void => clearTimeout(timer);
  session.once('stream', stop);
  session.once('close', stop);
}

/** Apply `settings` to every http2 server of `server` (grpc-js internals): false when they cannot be reached. */
function configureHttp2(server: grpc.Server, settings: Http2Settings): boolean {
  const servers = grpcHttp2Servers(server);
  if (servers === undefined) return false;
  for (const [h2, info] of servers) {
    const marked = h2 as http2.Http2Server & { [SETTINGS]?: Http2Settings };
    if (marked[SETTINGS] === undefined) {
      const current: Http2Settings = (marked[SETTINGS] = {});
      h2.on('session', (s: http2.ServerHttp2Session) => {
        if (current.window !== undefined) widenSession(s, current.window);
        if (current.firstCallMs !== undefined) watchFirstCall(s, current.firstCallMs);
      });
      h2.on('stream', (stream: http2.ServerHttp2Stream) => {
        if (current.requestIdleMs !== undefined) watchRequest(stream, current.requestIdleMs);
      });
    }
    Object.assign(marked[SETTINGS]!, settings);
    if (settings.window !== undefined) for (const s of info?.sessions ?? []) widenSession(s, settings.window);
  }
  return true;
}

/**
 * Give every HTTP/2 session of `server` a `window`-byte receive window (stream and connection),
 * through grpc-js's private map of its http2 servers (internals/grpc-js.ts): each one's 'session'
 * event is hooked, and the sessions already open are widened. Returns false (and changes nothing)
 * when that map is not there, e.g. after a grpc-js upgrade that renamed it; the server then works
 * with Node's 64 KiB windows, only slower for large messages.
 */
export function setGrpcFlowControlWindow(server: grpc.Server, window: number): boolean {
  return configureHttp2(server, { window });
}

/**
 * End calls whose request message stops arriving, and close connections that start no call
 * (GrpcTimeouts; see GrpcServerOptions.requestIdleTimeoutMs, firstCallTimeoutMs) on every http2
 * server of `server` (grpc-js internals, as setGrpcFlowControlWindow). Returns false when they
 * cannot be reached: stalled requests then hold what they received, and silent connections stay,
 * until their connection closes.
 */
export function setGrpcTimeouts(server: grpc.Server, timeouts: GrpcTimeouts): boolean {
  const checked = checkGrpcTimeouts({ requestIdleTimeoutMs: timeouts.requestIdleMs, firstCallTimeoutMs: timeouts.firstCallMs });
  return configureHttp2(server, { requestIdleMs: checked.requestIdleMs, firstCallMs: checked.firstCallMs });
}

/** Bind and start; resolves with the bound port. Applies the server's flowControlWindowBytes. */
export function listenGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) return reject(err);
      const window = flowControlWindows.get(server);
      if (window !== undefined && window > HTTP2_DEFAULT_WINDOW) setGrpcFlowControlWindow(server, window);
      const timeouts = grpcTimeouts.get(server);
      if (timeouts !== undefined) setGrpcTimeouts(server, timeouts);
      resolve(bound);
    });
  });
}

/** Stop accepting calls and wait for those in flight (forcing after `graceMs`). */
export function closeGrpc(server: grpc.Server, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    t.unref();
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
