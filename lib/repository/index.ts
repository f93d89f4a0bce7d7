export * from './pbtxt.js';
export * from './config.js';
export * from './backends.js';
export * from './repository.js';
export type { SchedulerFactory, SchedulerContext } from './scheduler-factory.js';
