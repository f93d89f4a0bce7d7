/**
 * Triton model configuration (config.pbtxt): the schema subset tensorrt-node understands, the
 * mapping from the text-format tree to a plain object (Triton's JSON form: snake_case names,
 * enum values as strings), validation against the model file's signature, and auto-complete
 * (Triton's term) of what the config leaves out.
 */
import { TensorRtError } from '../errors.js';
import { kserveDataType, dataTypeFromKserve, type DataType } from '../dtypes.js';
import type { ModelSignature, TensorSpec } from '../backends/backend.js';
import type { DynamicBatchingOptions, QueuePolicy } from '../batcher/types.js';
import { parsePbtxt, type PbField, type PbPos } from './pbtxt.js';
import { MAX_MICROSECONDS } from '../batcher/validate.js';

export interface ModelTensorConfig {
  name: string;
  /** TYPE_FP32, TYPE_INT64, ... */
  data_type: string;
  /** Without the batch dimension when max_batch_size > 0; -1 = dynamic. */
  dims: number[];
  format?: string;
  reshape?: { shape: number[] };
  optional?: boolean;
  is_shape_tensor?: boolean;
  label_filename?: string;
}

export interface ModelQueuePolicyConfig {
  timeout_action?: 'REJECT' | 'DELAY';
  default_timeout_microseconds?: number;
  allow_timeout_override?: boolean;
  max_queue_size?: number;
}

export interface ModelDynamicBatchingConfig {
  preferred_batch_size?: number[];
  max_queue_delay_microseconds?: number;
  preserve_ordering?: boolean;
  priority_levels?: number;
  default_priority_level?: number;
  default_queue_policy?: ModelQueuePolicyConfig;
  priority_queue_policy?: Record<string, ModelQueuePolicyConfig>;
}

export interface ModelInstanceGroupConfig {
  name?: string;
  kind?: 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';
  count?: number;
  gpus?: number[];
  profile?: string[];
}

export interface ModelVersionPolicyConfig {
  latest?: { num_versions?: number };
  all?: Record<string, never>;
  specific?: { versions?: number[] };
}

export interface ModelAcceleratorConfig {
  name?: string;
  parameters?: Record<string, string>;
}

export interface ModelExecutionAcceleratorsConfig {
  gpu_execution_accelerator?: ModelAcceleratorConfig[];
  cpu_execution_accelerator?: ModelAcceleratorConfig[];
}

export interface ModelConfig {
  name?: string;
  platform?: string;
  backend?: string;
  runtime?: string;
  version_policy?: ModelVersionPolicyConfig;
  max_batch_size?: number;
  input?: ModelTensorConfig[];
  output?: ModelTensorConfig[];
  dynamic_batching?: ModelDynamicBatchingConfig;
  instance_group?: ModelInstanceGroupConfig[];
  /**
   * cuda.graphs: CUDA graphs for TensorRT instances; execution_accelerators.gpu_execution_accelerator
   * [{ name: "tensorrt" }]: an ONNX model is built into a TensorRT plan (lib/repository/plan-cache.ts).
   */
  optimization?: { cuda?: { graphs?: boolean }; execution_accelerators?: ModelExecutionAcceleratorsConfig };
  default_model_filename?: string;
  parameters?: Record<string, { string_value?: string }>;
}

export interface ParsedModelConfig {
  config: ModelConfig;
  /** Unknown or ignored fields, "line:col: message". */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// schema

type Scalar = 'string' | 'int' | 'uint' | 'float' | 'bool';
type FieldType = Scalar | { enum: readonly string[] } | { message: Schema } | { map: Scalar; value: FieldType };
interface FieldDef {
  type: FieldType;
  repeated?: boolean;
  /** recognised Triton field that tensorrt-node cannot honour: load fails */
  unsupported?: string;
  /** recognised Triton field that has no effect here: a warning, not "unknown" */
  ignored?: boolean;
}
type Schema = Record<string, FieldDef>;

const DATA_TYPES = ['TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64', 'TYPE_INT8', 'TYPE_INT16', 'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64', 'TYPE_STRING', 'TYPE_BF16'] as const;

const RESHAPE: Schema = { shape: { type: 'int', repeated: true } };
const INPUT: Schema = {
  name: { type: 'string' },
  data_type: { type: { enum: DATA_TYPES } },
  format: { type: { enum: ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'] } },
  dims: { type: 'int', repeated: true },
  reshape: { type: { message: RESHAPE }, unsupported: 'reshape is not supported by tensorrt-node' },
  is_shape_tensor: { type: 'bool' },
  allow_ragged_batch: { type: 'bool', unsupported: 'allow_ragged_batch is not supported by tensorrt-node' },
  optional: { type: 'bool' },
};
const OUTPUT: Schema = {
  name: { type: 'string' },
  data_type: { type: { enum: DATA_TYPES } },
  dims: { type: 'int', repeated: true },
  reshape: { type: { message: RESHAPE }, unsupported: 'reshape is not supported by tensorrt-node' },
  label_filename: { type: 'string' },
  is_shape_tensor: { type: 'bool' },
};
const QUEUE_POLICY: Schema = {
  timeout_action: { type: { enum: ['REJECT', 'DELAY'] } },
  default_timeout_microseconds: { type: 'uint' },
  allow_timeout_override: { type: 'bool' },
  max_queue_size: { type: 'uint' },
};
const DYNAMIC_BATCHING: Schema = {
  preferred_batch_size: { type: 'int', repeated: true },
  max_queue_delay_microseconds: { type: 'uint' },
  preserve_ordering: { type: 'bool' },
  priority_levels: { type: 'uint' },
  default_priority_level: { type: 'uint' },
  default_queue_policy: { type: { message: QUEUE_POLICY } },
  priority_queue_policy: { type: { map: 'uint', value: { message: QUEUE_POLICY } } },
};
const INSTANCE_GROUP: Schema = {
  name: { type: 'string' },
  kind: { type: { enum: ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'] } },
  count: { type: 'int' },
  gpus: { type: 'int', repeated: true },
  profile: { type: 'string', repeated: true },
};
const VERSION_POLICY: Schema = {
  latest: { type: { message: { num_versions: { type: 'uint' } } } },
  all: { type: { message: {} } },
  specific: { type: { message: { versions: { type: 'int', repeated: true } } } },
};
// Triton's ModelOptimizationPolicy: cuda.graphs (TensorRT: cudaGraph) and the TensorRT execution
// accelerator (a plan built from the ONNX model) have an effect here.
const UNUSED: FieldDef = { type: { message: {} }, ignored: true };
const ACCELERATOR: Schema = { name: { type: 'string' }, parameters: { type: { map: 'string', value: 'string' } } };
const OPTIMIZATION: Schema = {
  cuda: {
    type: {
      message: {
        graphs: { type: 'bool' },
        busy_wait_events: UNUSED,
        graph_spec: UNUSED,
        output_copy_stream: UNUSED,
      },
    },
  },
  graph: UNUSED,
  priority: UNUSED,
  execution_accelerators: { type: { message: { gpu_execution_accelerator: { type: { message: ACCELERATOR }, repeated: true }, cpu_execution_accelerator: { type: { message: ACCELERATOR }, repeated: true } } } },
  input_pinned_memory: UNUSED,
  output_pinned_memory: UNUSED,
  gather_kernel_buffer_threshold: UNUSED,
  eager_batching: UNUSED,
};
const MODEL_CONFIG: Schema = {
  name: { type: 'string' },
  platform: { type: 'string' },
  backend: { type: 'string' },
  runtime: { type: 'string' },
  version_policy: { type: { message: VERSION_POLICY } },
  max_batch_size: { type: 'int' },
  input: { type: { message: INPUT }, repeated: true },
  output: { type: { message: OUTPUT }, repeated: true },
  dynamic_batching: { type: { message: DYNAMIC_BATCHING } },
  instance_group: { type: { message: INSTANCE_GROUP }, repeated: true },
  optimization: { type: { message: OPTIMIZATION } },
  default_model_filename: { type: 'string' },
  parameters: { type: { map: 'string', value: { message: { string_value: { type: 'string' } } } } },
  sequence_batching: { type: { message: {} }, unsupported: 'sequence_batching is not supported by tensorrt-node' },
  ensemble_scheduling: { type: { message: {} }, unsupported: 'ensemble models are not supported by tensorrt-node' },
};
/** Triton fields that are recognised but have no effect here (a warning, not "unknown"). */
const IGNORED_TOP_LEVEL = new Set([
  'model_warmup',
  'batch_input',
  'batch_output',
  'cc_model_filenames',
  'metric_tags',
  'model_operations',
  'model_transaction_policy',
  'model_repository_agents',
  'response_cache',
  'model_metrics',
]);

function at(pos: PbPos): string {
  return `${pos.line}:${pos.col}`;
}

function configError(pos: PbPos, msg: string): TensorRtError {
  return new TensorRtError('ERR_CONFIG', `${at(pos)}: ${msg}`, { line: pos.line, col: pos.col });
}

function convertScalar(f: PbField, type: Scalar | { enum: readonly string[] }, path: string): unknown {
  const v = f.value;
  if (v.kind === 'message') throw configError(f.pos, `${path} expects a value, not a message`);
  if (typeof type === 'object') {
    if (v.kind !== 'ident' || !type.enum.includes(v.value)) {
      throw configError(f.pos, `${path}: invalid value ${v.kind === 'string' ? JSON.stringify(v.value) : v.kind === 'number' ? v.text : v.value} (expected one of ${type.enum.join(', ')})`);
    }
    return v.value;
  }
  switch (type) {
    case 'string':
      if (v.kind !== 'string') throw configError(f.pos, `${path} expects a quoted string`);
      return v.value;
    case 'bool':
      if (v.kind === 'ident' && /^(true|t|True)$/.test(v.value)) return true;
      if (v.kind === 'ident' && /^(false|f|False)$/.test(v.value)) return false;
      if (v.kind === 'number' && (v.value === 0 || v.value === 1)) return v.value === 1;
      throw configError(f.pos, `${path} expects true or false`);
    case 'float':
      if (v.kind !== 'number') throw configError(f.pos, `${path} expects a number`);
      return v.value;
    case 'int':
    case 'uint':
      if (v.kind !== 'number' || !Number.isInteger(v.value)) throw configError(f.pos, `${path} expects an integer`);
      if (type === 'uint' && v.value < 0) throw configError(f.pos, `${path} must not be negative`);
      // past 2^53 the text no longer names one number (9007199254740993 reads as ...992)
      if (!Number.isSafeInteger(v.value)) throw configError(f.pos, `${path}: ${v.text} is beyond the integers this server represents exactly (±${Number.MAX_SAFE_INTEGER})`);
      return v.value;
  }
}

function convertMessage(fields: PbField[], schema: Schema, path: string, warnings: string[], top = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const fpath = path ? `${path}.${f.name}` : f.name;
    const def = schema[f.name];
    if (!def) {
      const why = top && IGNORED_TOP_LEVEL.has(f.name) ? 'is not used by tensorrt-node (ignored)' : 'is an unknown field (ignored)';
      const w = `${at(f.pos)}: ${fpath} ${why}`;
      if (!warnings.includes(w)) warnings.push(w);
      continue;
    }
    if (def.unsupported) throw configError(f.pos, def.unsupported);
    if (def.ignored) {
      const w = `${at(f.pos)}: ${fpath} is not used by tensorrt-node (ignored)`;
      if (!warnings.includes(w)) warnings.push(w);
      continue;
    }
    const t = def.type;
    let value: unknown;
    if (typeof t === 'object' && 'message' in t) {
      if (f.value.kind !== 'message') throw configError(f.pos, `${fpath} expects a message { ... }`);
      value = convertMessage(f.value.fields, t.message, fpath, warnings);
    } else if (typeof t === 'object' && 'map' in t) {
      if (f.value.kind !== 'message') throw configError(f.pos, `${fpath} expects a map entry { key: ... value: ... }`);
      const keyField = f.value.fields.find((x) => x.name === 'key');
      const valField = f.value.fields.find((x) => x.name === 'value');
      for (const x of f.value.fields) if (x.name !== 'key' && x.name !== 'value') warnings.push(`${at(x.pos)}: ${fpath}.${x.name} is an unknown field (ignored)`);
      if (!keyField) throw configError(f.pos, `${fpath} entry has no key`);
      const key = String(convertScalar(keyField, t.map, `${fpath}.key`));
      let val: unknown = {};
      if (valField) {
        const vt = t.value;
        if (typeof vt === 'object' && 'message' in vt) {
          if (valField.value.kind !== 'message') throw configError(valField.pos, `${fpath}.value expects a message`);
          val = convertMessage(valField.value.fields, vt.message, `${fpath}[${key}]`, warnings);
        } else if (typeof vt === 'object' && 'map' in vt) {
          throw configError(valField.pos, 'nested maps are not supported');
        } else {
          val = convertScalar(valField, vt, `${fpath}.value`);
        }
      }
      const m = (out[f.name] ??= {}) as Record<string, unknown>;
      m[key] = val;
      continue;
    } else {
      value = convertScalar(f, t, fpath);
    }
    if (def.repeated) ((out[f.name] ??= []) as unknown[]).push(value);
    else {
      if (f.name in out) throw configError(f.pos, `${fpath} is given more than once`);
      out[f.name] = value;
    }
  }
  return out;
}

/**
 * Parse config.pbtxt text. Syntax and type errors throw TensorRtError ERR_CONFIG with
 * "line:col: reason"; unknown fields come back as warnings.
 */
export function parseModelConfig(text: string): ParsedModelConfig {
  const tree = parsePbtxt(text);
  const warnings: string[] = [];
  const config = convertMessage(tree, MODEL_CONFIG, '', warnings, true) as ModelConfig;
  validateStatic(config);
  return { config, warnings };
}

/**
 * Bounds on what a config.pbtxt may ask for. Each field gets one: a config is read from disk, but
 * the repository API loads it on a client's request, and numbers like priority_levels 4294967295
 * (a queue per level, built in a synchronous loop) or a delay past Node's timer range would
 * otherwise freeze or crash the whole server, or leave requests unanswered.
 */
export const CONFIG_LIMITS = Object.freeze({
  /** config.pbtxt itself, bytes */
  fileBytes: 1024 * 1024,
  /** max_batch_size (Triton's int32) */
  maxBatchSize: 2 ** 31 - 1,
  /** a tensor's rank, batch dimension included */
  rank: 32,
  /** one dimension (Triton's dims are int64; TensorRT's and most runtimes' sizes stay in int32) */
  dim: 2 ** 31 - 1,
  /** inputs, and outputs, of one model */
  tensors: 1024,
  /** entries of dynamic_batching.preferred_batch_size */
  preferredBatchSizes: 1024,
  /** dynamic_batching.priority_levels: the batcher keeps two queues per level and scans them all */
  priorityLevels: 1024,
  /**
   * max_queue_delay_microseconds and queue-policy timeouts (and a request's "timeout"): Node's
   * timers hold at most 2^31-1 ms, and a longer one fires after 1 ms, re-armed forever. One ms
   * under that, so that the batcher's arithmetic in floating-point µs (deadline minus now) cannot
   * round a timer at the limit past it.
   */
  timerMicroseconds: MAX_MICROSECONDS,
  /** instances of one model version (instance_group count, times its gpus) */
  instances: 128,
  /** instance_group entries */
  instanceGroups: 64,
  /** a GPU ordinal in instance_group.gpus */
  gpu: 1023,
  /** version_policy.latest.num_versions and the entries of version_policy.specific.versions */
  versions: 1024,
});

function validateStatic(c: ModelConfig): void {
  const bad = (m: string): never => {
    throw new TensorRtError('ERR_CONFIG', m);
  };
  const L = CONFIG_LIMITS;
  const atMost = (v: number | undefined, max: number, what: string): void => {
    if (v !== undefined && v > max) bad(`${what} ${v} exceeds the limit of ${max}`);
  };
  if (c.max_batch_size !== undefined && c.max_batch_size < 0) bad('max_batch_size must not be negative');
  atMost(c.max_batch_size, L.maxBatchSize, 'max_batch_size');
  const vp = c.version_policy;
  if (vp && [vp.latest, vp.all, vp.specific].filter((x) => x !== undefined).length > 1) bad('version_policy must set exactly one of latest, all, specific');
  if (vp?.latest && (vp.latest.num_versions ?? 0) < 1) bad('version_policy.latest.num_versions must be at least 1');
  atMost(vp?.latest?.num_versions, L.versions, 'version_policy.latest.num_versions');
  atMost(vp?.specific?.versions?.length, L.versions, 'the number of version_policy.specific.versions');
  for (const v of vp?.specific?.versions ?? []) if (v < 0) bad(`version_policy.specific.versions: version ${v} must not be negative`);
  const groups = c.instance_group ?? [];
  atMost(groups.length, L.instanceGroups, 'the number of instance_group entries');
  let instances = 0;
  for (const g of groups) {
    if (g.count !== undefined && g.count < 1) bad('instance_group.count must be at least 1');
    atMost(g.count, L.instances, 'instance_group.count');
    for (const gpu of g.gpus ?? []) if (gpu < 0 || gpu > L.gpu) bad(`instance_group.gpus: GPU ${gpu} is not in 0..${L.gpu}`);
    atMost(g.gpus?.length, L.gpu + 1, 'the number of instance_group.gpus');
    instances += (g.count ?? 1) * (g.kind !== 'KIND_CPU' && g.gpus?.length ? g.gpus.length : 1);
  }
  if (instances > L.instances) bad(`instance_group asks for ${instances} instances of each version; the limit is ${L.instances}`);
  atMost(c.input?.length, L.tensors, 'the number of inputs');
  atMost(c.output?.length, L.tensors, 'the number of outputs');
  const batchDim = (c.max_batch_size ?? 0) > 0 ? 1 : 0;
  for (const t of [...(c.input ?? []), ...(c.output ?? [])]) {
    if (!t.name) bad('every input and output needs a name');
    if (t.data_type !== undefined && dataTypeFromConfig(t.data_type) === undefined) bad(`${t.name}: data type ${t.data_type} is not supported by tensorrt-node`);
    for (const d of t.dims ?? []) if (d < -1 || d === 0 || d > L.dim) bad(`${t.name}: invalid dimension ${d} (dimensions are -1 or 1..${L.dim})`);
    if ((t.dims?.length ?? 0) + batchDim > L.rank) bad(`${t.name}: ${t.dims!.length} dimensions${batchDim ? ' (plus the batch dimension)' : ''} exceed the rank limit of ${L.rank}`);
  }
  const db = c.dynamic_batching;
  if (db) {
    atMost(db.preferred_batch_size?.length, L.preferredBatchSizes, 'the number of dynamic_batching.preferred_batch_size entries');
    for (const p of db.preferred_batch_size ?? []) {
      if (p < 1) bad(`dynamic_batching.preferred_batch_size ${p} must be at least 1`);
      if (c.max_batch_size !== undefined && p > c.max_batch_size) bad(`dynamic_batching.preferred_batch_size ${p} exceeds max_batch_size ${c.max_batch_size}`);
      atMost(p, L.maxBatchSize, 'dynamic_batching.preferred_batch_size');
    }
    atMost(db.max_queue_delay_microseconds, L.timerMicroseconds, 'dynamic_batching.max_queue_delay_microseconds');
    atMost(db.priority_levels, L.priorityLevels, 'dynamic_batching.priority_levels');
    if ((db.priority_levels ?? 0) > 0 && db.default_priority_level !== undefined && (db.default_priority_level < 1 || db.default_priority_level > db.priority_levels!)) {
      bad(`dynamic_batching.default_priority_level must be within 1..${db.priority_levels}`);
    }
    const policies: Array<[string, ModelQueuePolicyConfig]> = [];
    if (db.default_queue_policy) policies.push(['dynamic_batching.default_queue_policy', db.default_queue_policy]);
    for (const [level, q] of Object.entries(db.priority_queue_policy ?? {})) {
      const n = Number(level);
      const levels = db.priority_levels ?? 0;
      if (!(n >= 1 && n <= levels)) bad(`dynamic_batching.priority_queue_policy: level ${level} is not one of the priority levels 1..${levels}`);
      policies.push([`dynamic_batching.priority_queue_policy[${level}]`, q]);
    }
    for (const [where, q] of policies) atMost(q.default_timeout_microseconds, L.timerMicroseconds, `${where}.default_timeout_microseconds`);
  }
}

// ---------------------------------------------------------------------------------------------
// data types

/** TYPE_FP32 → 'float32'; undefined for types tensorrt-node has no tensor type for. */
export function dataTypeFromConfig(s: string): DataType | undefined {
  if (!s.startsWith('TYPE_')) return undefined;
  const t = dataTypeFromKserve(s.slice(5));
  return t && ['float32', 'float16', 'bfloat16', 'int8', 'uint8', 'int32', 'int64', 'bool'].includes(t) ? t : undefined;
}

/** 'float32' → TYPE_FP32 */
export function configDataType(t: DataType): string {
  return `TYPE_${kserveDataType(t)}`;
}

// ---------------------------------------------------------------------------------------------
// auto-complete against the model file

/** The resolved view of one model's config after auto-complete against its signature. */
export interface ResolvedModelConfig extends ModelConfig {
  name: string;
  platform: string;
  backend: string;
  max_batch_size: number;
  version_policy: ModelVersionPolicyConfig;
  input: ModelTensorConfig[];
  output: ModelTensorConfig[];
  instance_group: Array<Required<Pick<ModelInstanceGroupConfig, 'name' | 'kind' | 'count' | 'gpus'>> & ModelInstanceGroupConfig>;
}

function dimsCompatible(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);
}

/**
 * Fill what the config omits from the model's signature (Triton's auto-complete) and check what
 * it states. `signature` shapes include the batch dimension when the model batches.
 */
export function completeConfig(name: string, config: ModelConfig, signature: ModelSignature, backendKind: string): ResolvedModelConfig {
  const fail = (m: string): never => {
    throw new TensorRtError('ERR_CONFIG', `model "${name}": ${m}`);
  };
  if (config.name !== undefined && config.name !== name) fail(`config name "${config.name}" differs from the directory name`);
  const maxBatch = config.max_batch_size ?? signature.maxBatchSize;
  if (maxBatch > 0 && signature.maxBatchSize === 0) fail(`max_batch_size ${maxBatch} but the model has no batch dimension`);
  if (maxBatch > 0 && signature.maxBatchSize > 0 && maxBatch > signature.maxBatchSize) {
    fail(`max_batch_size ${maxBatch} exceeds what the model accepts (${signature.maxBatchSize})`);
  }
  const strip = (s: TensorSpec): number[] => (maxBatch > 0 ? s.shape.slice(1) : [...s.shape]);
  const fromSpec = (s: TensorSpec): ModelTensorConfig => ({ name: s.name, data_type: configDataType(s.dtype), dims: strip(s) });
  const check = (kind: 'input' | 'output', given: ModelTensorConfig[] | undefined, specs: TensorSpec[]): ModelTensorConfig[] => {
    if (!given || given.length === 0) return specs.map(fromSpec);
    const out: ModelTensorConfig[] = [];
    for (const g of given) {
      const s = specs.find((x) => x.name === g.name);
      if (!s) fail(`${kind} "${g.name}" is not in the model (it has ${specs.map((x) => x.name).join(', ') || 'none'})`);
      const modelDims = strip(s!);
      const dt = configDataType(s!.dtype);
      if (g.data_type !== undefined && g.data_type !== dt) fail(`${kind} "${g.name}" has data_type ${g.data_type} in the config but ${dt} in the model`);
      if (g.dims !== undefined && !dimsCompatible(g.dims, modelDims)) {
        fail(`${kind} "${g.name}" has dims [${g.dims.join(',')}] in the config but [${modelDims.join(',')}] in the model${maxBatch > 0 ? ' (without the batch dimension)' : ''}`);
      }
      // the config may pin a dynamic dimension of the model; a model's static one wins over -1
      const dims = (g.dims ?? modelDims).map((d, i) => (d === -1 ? modelDims[i]! : d));
      out.push({ ...g, data_type: dt, dims });
    }
    if (kind === 'input') {
      const missing = specs.filter((s) => !given.some((g) => g.name === s.name));
      if (missing.length) fail(`input(s) ${missing.map((s) => `"${s.name}"`).join(', ')} of the model are missing from the config`);
    }
    return out;
  };
  const platform = config.platform ?? (backendKind === 'tensorrt' ? 'tensorrt_plan' : backendKind === 'onnxruntime' ? 'onnxruntime_onnx' : backendKind);
  const backend = config.backend ?? (backendKind === 'tensorrt' ? 'tensorrt' : backendKind);
  const groups = (config.instance_group && config.instance_group.length ? config.instance_group : [{}]).map((g, i) => ({
    ...g,
    name: g.name ?? `${name}_${i}`,
    kind: g.kind ?? (backendKind === 'tensorrt' ? 'KIND_GPU' : 'KIND_CPU'),
    count: g.count ?? 1,
    gpus: g.gpus ?? (backendKind === 'tensorrt' ? [0] : []),
  }));
  return {
    ...config,
    name,
    platform,
    backend,
    max_batch_size: maxBatch,
    version_policy: config.version_policy ?? { latest: { num_versions: 1 } },
    input: check('input', config.input, signature.inputs),
    output: check('output', config.output, signature.outputs),
    instance_group: groups,
  };
}

// ---------------------------------------------------------------------------------------------
// scheduler options

function queuePolicy(q: ModelQueuePolicyConfig): QueuePolicy {
  const p: QueuePolicy = {};
  if (q.max_queue_size !== undefined) p.maxQueueSize = q.max_queue_size;
  if (q.default_timeout_microseconds !== undefined) p.defaultTimeoutMicroseconds = q.default_timeout_microseconds;
  if (q.timeout_action !== undefined) p.timeoutAction = q.timeout_action === 'DELAY' ? 'delay' : 'reject';
  if (q.allow_timeout_override !== undefined) p.allowTimeoutOverride = q.allow_timeout_override;
  return p;
}

/**
 * The batcher options for a resolved config. Without dynamic_batching the model still gets a
 * batcher, with max_queue_delay 0 and no preferred sizes: requests are never held back to
 * wait for others, but requests that are already queued while an instance is busy run together
 * (up to max_batch_size), which is what Triton's default scheduler amounts to for a batching model.
 */
export function dynamicBatchingOptions(c: ResolvedModelConfig): DynamicBatchingOptions {
  const db = c.dynamic_batching;
  // No dynamic_batching block: Triton's default scheduler, which hands each request to a free
  // instance as it is (dimension 0 up to max_batch_size, checked by the server) and batches nothing.
  if (!db) return { maxBatchSize: 0 };
  const o: DynamicBatchingOptions = { maxBatchSize: c.max_batch_size, maxQueueDelayMicroseconds: 0 };
  if (db.preferred_batch_size?.length) o.preferredBatchSize = [...db.preferred_batch_size];
  if (db.max_queue_delay_microseconds !== undefined) o.maxQueueDelayMicroseconds = db.max_queue_delay_microseconds;
  if (db.preserve_ordering !== undefined) o.preserveOrdering = db.preserve_ordering;
  if (db.priority_levels !== undefined) o.priorityLevels = db.priority_levels;
  if (db.default_priority_level !== undefined) o.defaultPriorityLevel = db.default_priority_level;
  if (db.default_queue_policy) o.defaultQueuePolicy = queuePolicy(db.default_queue_policy);
  if (db.priority_queue_policy) {
    o.priorityQueuePolicy = {};
    for (const [k, v] of Object.entries(db.priority_queue_policy)) o.priorityQueuePolicy[Number(k)] = queuePolicy(v);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// version policy

/** Which of the available versions a policy selects. */
export function selectVersions(policy: ModelVersionPolicyConfig | undefined, available: number[]): number[] {
  const sorted = [...available].sort((a, b) => b - a);
  if (!policy || policy.latest) return sorted.slice(0, policy?.latest?.num_versions ?? 1).sort((a, b) => a - b);
  if (policy.all) return sorted.reverse();
  const want = new Set(policy.specific?.versions ?? []);
  return sorted.filter((v) => want.has(v)).sort((a, b) => a - b);
}
