/**
 * A gRPC front-end thread (started by grpc-front-ends.ts): HTTP/2 framing and protobuf
 * encoding and decoding of the connections the main thread hands over, so that this work,
 * about a millisecond per 600 KB request, is off the thread that runs the batcher. Each unary
 * call goes to the main thread as { id, method, request } and its answer comes back as
 * { id, response } or { id, error }; tensor bytes travel in transferred ArrayBuffers.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { TensorRtError } from '../errors.js';
import { closeGrpc, loadGrpcService, newGrpcServer, setGrpcFlowControlWindow } from './grpc.js';
import { BufferPool, RAW_INPUTS, RAW_OUTPUTS, bytesBackToBuffers, moveBytesOut, type FromWorker, type GrpcWorkerData, type ToWorker } from './grpc-bridge.js';

const port = parentPort;
if (!port) throw new TensorRtError('ERR_CONFIG', 'grpc-worker runs as a worker thread of the tensorrt-node server, not on its own');
const options = workerData as GrpcWorkerData;

const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const pending = new Map<number, grpc.sendUnaryData<unknown>>();
/** input buffers back from the main thread; 64 MiB holds a hundred 600 KB images in flight */
const inputBuffers = new BufferPool(64 * 1024 * 1024);
let nextId = 0;

function forward(method: string) {
  return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const id = nextId++;
    pending.set(id, callback);
    const request = call.request;
    post({ kind: 'call', id, method, request }, moveBytesOut(request, RAW_INPUTS, inputBuffers));
  };
}

const server = newGrpcServer(options.maxMessageBytes);
server.addService(loadGrpcService(options.protoDir), Object.fromEntries(options.methods.map((m) => [m, forward(m)])));
const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
// after createConnectionInjector: the injector's http2 server is then in the map that this widens
setGrpcFlowControlWindow(server, options.flowControlWindowBytes);

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
    case 'reply': {
      const callback = pending.get(message.id);
      pending.delete(message.id);
      if (!callback) break;
      if ('error' in message) callback(message.error);
      else {
        for (const ab of message.returned) inputBuffers.give(ab);
        bytesBackToBuffers(message.response, RAW_OUTPUTS);
        callback(null, message.response);
      }
      break;
    }
    case 'drain':
      void closeGrpc(server, message.graceMs).then(() => post({ kind: 'drained' }));
      break;
  }
});

post({ kind: 'ready' });
