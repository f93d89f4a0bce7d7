import { Runtime, type RuntimeInfo, type RuntimeOptions, type ProfileInfo, type TensorInfo } from './runtime.js';
import { assertPlanFile } from './plan-header.js';

export interface PlanInspection {
  path: string;
  runtime: RuntimeInfo;
  io: TensorInfo[];
  profiles: ProfileInfo[];
  deviceMemorySize: number;
  layers?: unknown;
}

/** Loads a plan and describes it: IO tensors, profiles, activation memory, optionally layers. */
export async function inspectPlan(path: string, options: RuntimeOptions & { layers?: boolean } = {}): Promise<PlanInspection> {
  assertPlanFile(path); // a missing file is reported as such, before any TensorRT lookup
  const runtime = new Runtime(options);
  try {
    const engine = await runtime.deserializeAsync(path);
    try {
      const r: PlanInspection = {
        path,
        runtime: runtime.info,
        io: [...engine.io],
        profiles: [...engine.profiles],
        deviceMemorySize: engine.deviceMemorySize,
      };
      if (options.layers) r.layers = engine.layerInformation();
      return r;
    } finally {
      engine.dispose();
    }
  } finally {
    runtime.dispose();
  }
}
