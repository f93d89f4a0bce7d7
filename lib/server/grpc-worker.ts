/**
 * A gRPC front-end thread (started by grpc-front-ends.ts): HTTP/2 framing and protobuf
 * encoding and decoding of the connections the main thread hands over, so that this work,
 * about a millisecond per 600 KB request, is off the thread that runs the batcher. Each unary
 * call goes to the main thread as (id, method, request) and its answer comes back as
 * (id, ok, response or error), several calls or answers to a message (grpc-bridge.ts); tensor
 * bytes travel in transferred ArrayBuffers.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { TensorRtError } from '../errors.js';
import { closeGrpc, flattenModelInferRequest, loadGrpcService, newGrpcServer, refusedStatus, setGrpcFlowControlWindow, setGrpcTimeouts } from './grpc.js';
import { PooledMessages, installPooledDecoder } from './grpc-decoder.js';
import { BufferPool, CALL_FIELDS, MessageBatcher, RAW_INPUTS, RAW_OUTPUTS, bytesBackToBuffers, moveBytesOut, type BridgedError, type FromWorker, type GrpcWorkerData, type ToWorker } from './grpc-bridge.js';

const port = parentPort;
if (!port) throw new TensorRtError('ERR_CONFIG', 'grpc-worker runs as a worker thread of the tensorrt-node server, not on its own');
const options = workerData as GrpcWorkerData;

const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const pending = new Map<number, grpc.sendUnaryData<unknown>>();
/** input buffers back from the main thread; 64 MiB holds a hundred 600 KB images in flight */
const inputBuffers = new BufferPool(64 * 1024 * 1024);
/**
 * Large requests are assembled in buffers of that pool, and their tensor bytes go to the main
 * thread without another copy (grpc-decoder.ts); unless grpc-js is not the version this knows
 * (internals/grpc-js.ts), then bytes are copied out of grpc-js's message.
 */
const pooledMessages = new PooledMessages(inputBuffers);
const inPlace = installPooledDecoder(pooledMessages) ? pooledMessages : undefined;
let nextId = 0;

/**
 * Calls go to the main thread in batches: those decoded in one turn of this thread's event loop
 * (a read of several connections' frames) share a message, posted once the turn's I/O callbacks
 * are done (setImmediate).
 */
const calls = new MessageBatcher((items, transfer) => post({ kind: 'calls', calls: items }, transfer), setImmediate);

function forward(method: string, index: number) {
  const flatten = method === 'ModelInfer';
  return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    // refused before decoding (too large a structure, or malformed): answered here
    const refused = refusedStatus(call.request);
    if (refused) return callback(refused);
    const id = nextId++;
    pending.set(id, callback);
    const request = call.request;
    // the parameters' values, not protobuf's oneof wrappers: less to clone, and to read there
    if (flatten) flattenModelInferRequest(request);
    calls.add(id, index, request, moveBytesOut(request, RAW_INPUTS, inputBuffers, inPlace));
  };
}

const server = newGrpcServer(options.maxMessageBytes);
server.addService(loadGrpcService(options.protoDir), Object.fromEntries(options.methods.map((m, i) => [m, forward(m, i)])));
const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
// after createConnectionInjector: the injector's http2 server is then in the map that these configure
setGrpcFlowControlWindow(server, options.flowControlWindowBytes);
setGrpcTimeouts(server, options.timeouts);

function adopt(fd: number): void {
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, readable: true, writable: true });
  } catch {
    // not a socket any more (closed under us): nothing to serve, but the descriptor is ours
    fs.close(fd, () => {});
    post({ kind: 'connection-closed' });
    return;
  }
  socket.once('close', () => post({ kind: 'connection-closed' }));
  injector.injectConnection(socket);
}

port.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'connection':
      adopt(message.fd);
      break;
    case 'replies': {
      for (const ab of message.returned) inputBuffers.give(ab);
      const r = message.replies;
      for (let i = 0; i < r.length; i += CALL_FIELDS) {
        const id = r[i] as number;
        const callback = pending.get(id);
        pending.delete(id);
        if (!callback) continue;
        if (r[i + 1] !== true) callback(r[i + 2] as BridgedError);
        else {
          bytesBackToBuffers(r[i + 2], RAW_OUTPUTS);
          callback(null, r[i + 2]);
        }
      }
      break;
    }
    case 'drain':
      void closeGrpc(server, message.graceMs).then(() => post({ kind: 'drained' }));
      break;
  }
});

post({ kind: 'ready' });
