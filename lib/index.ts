export * from './errors.js';
export * from './dtypes.js';
export * from './tensor.js';
export type * from './backends/backend.js';
export type * from './batcher/types.js';
