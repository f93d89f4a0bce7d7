export * from './pbtxt.js';
export * from './config.js';
export * from './backends.js';
export * from './repository.js';
export type { SchedulerFactory, SchedulerContext } from './scheduler-factory.js';
export { PlanCache, defaultPlanCache, planOptionsFromConfig, PLAN_CACHE_DIRNAME, type PlanCacheOptions, type PlanEnvironment, type PlanRequest, type CachedPlan, type PlanBuildOptions } from './plan-cache.js';
