/**
 * How the repository turns a model version's instances into a scheduler. Kept in one small
 * module so that tests (and embedders) can pass their own factory to ModelRepository.
 */
import type { BackendInstance } from '../backends/backend.js';
import type { DynamicBatchingOptions, InferenceScheduler } from '../batcher/types.js';
import { DynamicBatcher } from '../batcher/dynamic-batcher.js';

export interface SchedulerContext {
  model: string;
  version: number;
}

export type SchedulerFactory = (instances: BackendInstance[], options: DynamicBatchingOptions, context: SchedulerContext) => InferenceScheduler;

/** The default: one DynamicBatcher over all of the version's instances. */
export const createScheduler: SchedulerFactory = (instances, options) => new DynamicBatcher(instances, options);
