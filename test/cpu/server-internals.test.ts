// The private internals of fastify and grpc-js that the server relies on (lib/server/internals/):
// probed against the installed versions. When an upgrade moves one, this fails and names it; the
// server itself keeps working without it (slower: inference through fastify's lifecycle, tensor
// bytes copied once more, Node's 64 KiB HTTP/2 windows, no timeout on stalled gRPC requests).
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { probeFastifyInternals } from '../../lib/server/internals/fastify.js';
import { probeGrpcJsInternals } from '../../lib/server/internals/grpc-js.js';

const req = createRequire(import.meta.url);
const version = (pkg: string): string => (req(`${pkg}/package.json`) as { version: string }).version;
const pinned = (pkg: string): string => (req('../../package.json') as { dependencies: Record<string, string> }).dependencies[pkg]!;

describe('private internals of the server dependencies', () => {
  it(`fastify ${version('fastify')}: the route context (hooks, content-type parsers, error handler) is where internals/fastify.ts reads it`, async () => {
    expect(version('fastify')).toBe(pinned('fastify'));
    const problems = await probeFastifyInternals();
    expect(problems, `fastify ${version('fastify')} moved an internal that lib/server/internals/fastify.ts reads:\n${problems.join('\n')}`).toEqual([]);
  });

  it(`@grpc/grpc-js ${version('@grpc/grpc-js')}: Server#http2Servers and StreamDecoder are where internals/grpc-js.ts reaches them`, async () => {
    expect(version('@grpc/grpc-js')).toBe(pinned('@grpc/grpc-js'));
    const problems = await probeGrpcJsInternals();
    expect(problems, `@grpc/grpc-js ${version('@grpc/grpc-js')} moved an internal that lib/server/internals/grpc-js.ts uses:\n${problems.join('\n')}`).toEqual([]);
  });
});
