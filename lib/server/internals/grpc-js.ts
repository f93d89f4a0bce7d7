/**
 * The one place that reads or changes @grpc/grpc-js's private state (grpc-js is pinned in
 * package.json; the probe below is run by test/cpu/server-internals.test.ts against the installed
 * version, and names what moved when an upgrade changes it).
 *
 * - `Server#http2Servers` (build/src/server.js): a Map from each node:http2 server that a grpc-js
 *   Server listens with (or that a connection injector feeds) to `{ sessions: Set<Http2Session> }`.
 *   grpc-js 1.14 has no option for the HTTP/2 receive window of a server ('grpc-node.flow_control_window'
 *   is read by its client only) and none for a timeout on a request that stops arriving; both are
 *   set on these http2 servers' sessions and streams.
 * - `StreamDecoder` (build/src/stream-decoder.js): the length-prefixed message framing of each call,
 *   whose `prototype.write` grpc-decoder.ts replaces, with the instance fields it reads and writes.
 *   grpc-js has no public way to choose where a message's bytes are assembled.
 */
import type * as http2 from 'node:http2';
import { createRequire } from 'node:module';
import type * as grpc from '@grpc/grpc-js';

/** Names of the private fields used, for messages. */
export const GRPC_HTTP2_SERVERS = 'grpc.Server#http2Servers';
export const GRPC_STREAM_DECODER = "require('@grpc/grpc-js/build/src/stream-decoder.js').StreamDecoder";

/** The node:http2 servers of a grpc-js server with their open sessions, or undefined when the private map is not there. */
export function grpcHttp2Servers(server: grpc.Server): Map<http2.Http2Server, { sessions?: Set<http2.ServerHttp2Session> }> | undefined {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return undefined;
  for (const h2 of servers.keys()) if (typeof (h2 as { on?: unknown })?.on !== 'function') return undefined;
  return servers as Map<http2.Http2Server, { sessions?: Set<http2.ServerHttp2Session> }>;
}

/** The decoder state of grpc-js 1.14's StreamDecoder, as grpc-decoder.ts reads and writes it. */
export interface StreamDecoderState {
  readState: number;
  readCompressFlag: Buffer;
  readPartialSize: Buffer;
  readSizeRemaining: number;
  readMessageSize: number;
  readPartialMessage: Buffer[];
  readMessageRemaining: number;
  maxReadMessageLength: number;
}

const DECODER_FIELDS: Array<keyof StreamDecoderState> = ['readState', 'readCompressFlag', 'readPartialSize', 'readSizeRemaining', 'readMessageSize', 'readPartialMessage', 'readMessageRemaining', 'maxReadMessageLength'];
/** StreamDecoder's readState before a message (ReadState.NO_DATA). */
export const DECODER_NO_DATA = 0;

type DecoderClass = { prototype: { write?: unknown } } & (new (maxReadMessageLength: number) => StreamDecoderState);

/** This thread's grpc-js StreamDecoder class, or a line saying why it is not the one this module knows. */
function streamDecoderClass(): DecoderClass | string {
  let decoderClass: DecoderClass;
  try {
    const req = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
    decoderClass = (req('@grpc/grpc-js/build/src/stream-decoder.js') as { StreamDecoder: DecoderClass }).StreamDecoder;
  } catch (e) {
    return `${GRPC_STREAM_DECODER} cannot be loaded: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof decoderClass !== 'function') return `${GRPC_STREAM_DECODER} is not a class`;
  if (typeof decoderClass.prototype.write !== 'function') return `${GRPC_STREAM_DECODER}.prototype.write is not a function`;
  const probe = new decoderClass(-1);
  const missing = DECODER_FIELDS.filter((f) => !(f in probe));
  if (missing.length) return `${GRPC_STREAM_DECODER} instances lack ${missing.join(', ')}`;
  if (probe.readState !== DECODER_NO_DATA) return `${GRPC_STREAM_DECODER} does not start in readState ${DECODER_NO_DATA} (NO_DATA)`;
  return decoderClass;
}

/**
 * Replace StreamDecoder.prototype.write (for every call of this thread's grpc-js, server and
 * client side). Returns false, changing nothing, when the class is not the one this module knows.
 */
export function replaceStreamDecoderWrite(write: (this: StreamDecoderState, data: Buffer) => Buffer[]): boolean {
  const decoderClass = streamDecoderClass();
  if (typeof decoderClass === 'string') return false;
  decoderClass.prototype.write = write;
  return true;
}

/**
 * Check the private state used above on this thread's grpc-js: an empty list when it is where this
 * module expects it, else one line per thing that moved, naming it.
 */
export async function probeGrpcJsInternals(): Promise<string[]> {
  const problems: string[] = [];
  const decoder = streamDecoderClass();
  if (typeof decoder === 'string') problems.push(decoder);
  else {
    // framing of one message: flag, 4-byte big-endian size, bytes
    const d = new decoder(-1) as StreamDecoderState & { write(data: Buffer): Buffer[] };
    const out = d.write(Buffer.from([0, 0, 0, 0, 2, 7, 9]));
    if (out.length !== 1 || !out[0]!.equals(Buffer.from([0, 0, 0, 0, 2, 7, 9]))) problems.push(`${GRPC_STREAM_DECODER}.prototype.write no longer returns each framed message whole`);
  }
  const grpcjs = await import('@grpc/grpc-js');
  const server = new grpcjs.Server();
  try {
    const injector = server.createConnectionInjector(grpcjs.ServerCredentials.createInsecure());
    const servers = grpcHttp2Servers(server);
    if (servers === undefined) problems.push(`${GRPC_HTTP2_SERVERS} is not a Map of node:http2 servers`);
    else if (servers.size !== 1) problems.push(`${GRPC_HTTP2_SERVERS} does not hold the connection injector's http2 server (size ${servers.size})`);
    else if (!(servers.values().next().value?.sessions instanceof Set)) problems.push(`${GRPC_HTTP2_SERVERS} entries have no sessions Set`);
    injector.destroy();
  } finally {
    server.forceShutdown();
  }
  return problems;
}
