/**
 * `tensorrt-node/server`: the Triton model repository, the KServe v2 HTTP and gRPC servers and
 * the Prometheus metrics, i.e. what `tensorrt-node serve` runs. A separate entry so that
 * `tensorrt-node` itself loads none of fastify, grpc-js, proto-loader or prom-client.
 *
 * lib/server/index.ts and lib/repository/index.ts are the curated public lists of those two
 * layers; this entry publishes exactly them.
 */
export * from './server/index.js';
export * from './repository/index.js';
