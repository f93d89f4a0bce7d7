// grpc-sink: the cheapest competent KServe v2 gRPC server we could write, to measure the ceiling
// of plain-gRPC ModelInfer traffic on a host (issue 6): it serves inference.GRPCInferenceService
// well enough for perf_analyzer 2.48 (`-i grpc -m MODEL -b B --concurrency-range C`) and does no
// inference. bench/grpc-ceiling.mjs drives it; bench/results/2026-12-03-grpc-ceiling-cpu.md has
// the numbers.
//
// Build (from the repository root; a static binary, git-ignored):
//
//	CGO_ENABLED=0 go -C bench/grpc-ceiling build -trimpath -ldflags='-s -w' -o bin/grpc-sink .
//
// Run:
//
//	[GOMAXPROCS=N] bench/grpc-ceiling/bin/grpc-sink [--port 8001] [--host 127.0.0.1] [--model resnet50]
//	    [--window BYTES] [--conn-window BYTES] [--read-buffer BYTES] [--write-buffer BYTES]
//	    [--stream-workers N] [--copy-input]
//
// It prints `grpc-sink listening on HOST:PORT gomaxprocs N ...` on stdout once it accepts
// connections (--port 0: a free port), and on SIGTERM/SIGINT one JSON line on stderr with the
// calls it served per method (unknown methods included: they are answered UNIMPLEMENTED and
// counted, which is how we learn what a client calls), then exits 0.
//
// One model (--model, default resnet50): max_batch_size 32, input `input` FP32 [3,224,224],
// output `output` FP32 [1000], version "1", platform tensorrt_plan (what the real server reports
// for the ResNet-50 plan). No generated code: a codec (grpc.ForceServerCodecV2) hands the raw
// message bytes over, small requests are read and responses written with protowire, field
// numbers from proto/grpc_service.proto and proto/model_config.proto.
//
// ModelInfer reads the request straight from grpc-go's receive buffers (a mem.BufferSlice, no
// reassembly): model name, id, the first input's name, datatype and shape, the requested outputs,
// and the size of every raw_input_contents entry, whose bytes are skipped, not copied (with
// --copy-input they are copied once into a pooled buffer, as a real server copies them into its
// staging memory). It checks them as a server would (model, input name, FP32, shape [B,3,224,224]
// with 1 <= B <= 32, one raw_input_contents of B*602112 bytes, requested outputs) and answers a
// ModelInferResponse prebuilt per B: output `output` FP32 [B,1000] with B*4000 zero bytes of
// raw_output_contents (the request id, when set, is sent as a separate leading field).
// ModelStatistics reports the ModelInfer calls served (execution_count; the success, queue and
// compute counts) and their items (inference_count); all durations zero. perf_analyzer 2.48 calls
// ServerMetadata, ModelMetadata, ModelConfig, ModelStatistics (around every measurement window) and
// ModelInfer; ServerLive, ServerReady and ModelReady are served too, anything else is UNIMPLEMENTED.
//
// HTTP/2 flow control: static windows of 1 MiB per stream (--window) and 16 MiB per connection
// (--conn-window) instead of grpc-go's default (64 KiB, grown by BDP estimation up to 16 MiB). A
// stream window above one 602,112-byte request means a single-image request never waits for a
// WINDOW_UPDATE in the middle of its message; perf_analyzer's gRPC client shares a connection
// among up to 6 of its client threads (11 connections at concurrency 64), and 16 MiB lets all of
// their single-image requests (or 3 requests of 8 images) be in flight on it. On the 2-vCPU VM,
// grpc-go's default, 1/16 MiB, 8/64 MiB and 1/16 MiB with 256 KiB read/write buffers did not
// differ beyond run-to-run noise (about ±20 %); the GPU host can compare them with the driver's
// --sink-args. MaxRecvMsgSize is 64 MiB (32 items are 19.3 MB).
//
// Where the sink's CPU goes (perf, 2-vCPU VM, B=1): about half is kernel time (the socket read's
// copy to user space ~25 %, the rest TCP), ~25 % is grpc-go putting each 16 KiB DATA frame into a
// buffer of its pool (zeroing it, ~20 %, then copying the frame out of its read buffer, ~4 %). A
// pool that does not zero (tried, not kept) moved that cost into the copy (the buffers then arrive
// cold: memmove ~23 %) and did not change the CPU per request measurably. --read-buffer -1 (the
// framer reads the socket directly) raised the kernel share and did not lower the total either.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	service      = "inference.GRPCInferenceService"
	maxBatch     = 32
	itemInBytes  = 3 * 224 * 224 * 4 // 602,112
	itemOutBytes = 1000 * 4
	typeFP32     = 11 // inference.DataType TYPE_FP32
)

var modelName string

// ---------------------------------------------------------------------------------------------
// the codec: raw bytes in and out

// inferRequest is what ModelInfer needs of a request; the codec fills it from the receive buffers.
type inferRequest struct {
	model, version, id []byte
	inputs             int
	inputName, dtype   []byte
	shape              []int64
	rawSizes           []int
	badOutput          []byte // a requested output other than `output`, if any
	copied             *[]byte
}

type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	case mem.BufferSlice:
		return m, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *inferRequest:
		return m.parse(data)
	case *[]byte:
		*m = data.Materialize()
		return nil
	}
	return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
}

// reader walks a message spread over the buffers of a mem.BufferSlice.
type reader struct {
	bufs []mem.Buffer
	i    int    // current buffer
	cur  []byte // the rest of it
}

var errTruncated = errors.New("truncated message")

func (r *reader) fill() bool {
	for len(r.cur) == 0 {
		if r.i >= len(r.bufs) {
			return false
		}
		r.cur = r.bufs[r.i].ReadOnlyData()
		r.i++
	}
	return true
}

func (r *reader) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		if !r.fill() {
			return 0, errTruncated
		}
		b := r.cur[0]
		r.cur = r.cur[1:]
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("bad varint")
}

// skip passes over n bytes; with dst, copies them there
func (r *reader) skip(n int, dst []byte) error {
	for n > 0 {
		if !r.fill() {
			return errTruncated
		}
		k := min(n, len(r.cur))
		if dst != nil {
			dst = dst[copy(dst, r.cur[:k]):]
		}
		r.cur = r.cur[k:]
		n -= k
	}
	return nil
}

// take returns the next n bytes (a view when they lie in one buffer, else a copy); meant for small fields
func (r *reader) take(n int) ([]byte, error) {
	if !r.fill() && n > 0 {
		return nil, errTruncated
	}
	if n <= len(r.cur) {
		b := r.cur[:n:n]
		r.cur = r.cur[n:]
		return b, nil
	}
	b := make([]byte, n)
	return b, r.skip(n, b)
}

var copyPool = sync.Pool{New: func() any { b := make([]byte, 0); return &b }}

func (q *inferRequest) parse(data mem.BufferSlice) error {
	r := reader{bufs: data}
	for r.fill() {
		tag, err := r.varint()
		if err != nil {
			return err
		}
		num, typ := protowire.DecodeTag(tag)
		if typ != protowire.BytesType {
			if err := skipScalar(&r, typ); err != nil {
				return err
			}
			continue
		}
		n64, err := r.varint()
		if err != nil {
			return err
		}
		if err := q.field(&r, num, int(n64)); err != nil {
			return err
		}
	}
	// the views into the receive buffers die with them (grpc-go frees them after Unmarshal)
	q.model = append([]byte(nil), q.model...)
	q.version = append([]byte(nil), q.version...)
	q.id = append([]byte(nil), q.id...)
	q.inputName = append([]byte(nil), q.inputName...)
	q.dtype = append([]byte(nil), q.dtype...)
	return nil
}

// field reads (or skips) a length-delimited field of n bytes of ModelInferRequest
func (q *inferRequest) field(r *reader, num protowire.Number, n int) error {
	switch num {
	case 1, 2, 3: // model_name, model_version, id
		b, err := r.take(n)
		switch num {
		case 1:
			q.model = b
		case 2:
			q.version = b
		default:
			q.id = b
		}
		return err
	case 5: // inputs: the first one is read, the others counted
		q.inputs++
		if q.inputs > 1 {
			return r.skip(n, nil)
		}
		b, err := r.take(n)
		if err != nil {
			return err
		}
		return q.parseInput(b)
	case 6: // outputs (requested)
		b, err := r.take(n)
		if name := stringField(b, 1); err == nil && string(name) != "output" {
			q.badOutput = append([]byte(nil), name...)
		}
		return err
	case 7: // raw_input_contents: skipped (or copied once)
		q.rawSizes = append(q.rawSizes, n)
		var dst []byte
		if copyInput && len(q.rawSizes) == 1 {
			p := copyPool.Get().(*[]byte)
			if cap(*p) < n {
				*p = make([]byte, n)
			}
			*p = (*p)[:n]
			q.copied, dst = p, *p
		}
		return r.skip(n, dst)
	}
	return r.skip(n, nil)
}

func skipScalar(r *reader, typ protowire.Type) error {
	switch typ {
	case protowire.VarintType:
		_, err := r.varint()
		return err
	case protowire.Fixed64Type:
		return r.skip(8, nil)
	case protowire.Fixed32Type:
		return r.skip(4, nil)
	}
	return fmt.Errorf("unsupported wire type %d", typ)
}

// parseInput reads an InferInputTensor: name (1), datatype (2), shape (3, packed or not)
func (q *inferRequest) parseInput(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			q.inputName, n = protowire.ConsumeBytes(b)
		case num == 2 && typ == protowire.BytesType:
			q.dtype, n = protowire.ConsumeBytes(b)
		case num == 3 && typ == protowire.BytesType:
			var packed []byte
			packed, n = protowire.ConsumeBytes(b)
			for len(packed) > 0 {
				v, k := protowire.ConsumeVarint(packed)
				if k < 0 {
					return protowire.ParseError(k)
				}
				q.shape = append(q.shape, int64(v))
				packed = packed[k:]
			}
		case num == 3 && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			q.shape = append(q.shape, int64(v))
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

// stringField returns the first length-delimited field `field` of a small message
func stringField(b []byte, field protowire.Number) []byte {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == field && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return v
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return nil
		}
		b = b[n:]
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// responses, written with protowire

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendPacked(b []byte, num protowire.Number, vs ...int64) []byte {
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, uint64(v))
	}
	return appendMessage(b, num, p)
}

var (
	trueResponse = appendVarint(nil, 1, 1) // ServerLiveResponse / ServerReadyResponse / ModelReadyResponse {true}
	empty        = []byte{}
	serverMeta   []byte
	modelMeta    []byte
	modelConfig  []byte
	inferOut     [maxBatch + 1][]byte // ModelInferResponse per batch size, without id
)

func buildResponses() {
	serverMeta = appendString(nil, 1, "grpc-sink")
	serverMeta = appendString(serverMeta, 2, "0.1.0")
	for _, e := range []string{"classification", "model_configuration", "statistics"} {
		serverMeta = appendString(serverMeta, 3, e)
	}

	tensorMeta := func(name string, shape ...int64) []byte { // ModelMetadataResponse.TensorMetadata
		return appendPacked(appendString(appendString(nil, 1, name), 2, "FP32"), 3, shape...)
	}
	modelMeta = appendString(nil, 1, modelName)
	modelMeta = appendString(modelMeta, 2, "1")
	modelMeta = appendString(modelMeta, 3, "tensorrt_plan")
	modelMeta = appendMessage(modelMeta, 4, tensorMeta("input", -1, 3, 224, 224))
	modelMeta = appendMessage(modelMeta, 5, tensorMeta("output", -1, 1000))

	in := appendPacked(appendVarint(appendString(nil, 1, "input"), 2, typeFP32), 4, 3, 224, 224) // ModelInput: name, data_type, dims
	out := appendPacked(appendVarint(appendString(nil, 1, "output"), 2, typeFP32), 3, 1000)      // ModelOutput: name, data_type, dims
	group := appendVarint(appendVarint(appendString(nil, 1, modelName+"_0"), 2, 1), 4, 1)        // ModelInstanceGroup: name, count 1, kind KIND_GPU
	cfg := appendString(nil, 1, modelName)
	cfg = appendString(cfg, 2, "tensorrt_plan")
	cfg = appendVarint(cfg, 4, maxBatch)
	cfg = appendMessage(cfg, 5, in)
	cfg = appendMessage(cfg, 6, out)
	cfg = appendMessage(cfg, 7, group)
	cfg = appendMessage(cfg, 11, nil) // dynamic_batching {}
	cfg = appendString(cfg, 17, "tensorrt")
	modelConfig = appendMessage(nil, 1, cfg) // ModelConfigResponse.config

	for b := 1; b <= maxBatch; b++ {
		t := appendPacked(appendString(appendString(nil, 1, "output"), 2, "FP32"), 3, int64(b), 1000)
		r := appendString(nil, 1, modelName)
		r = appendString(r, 2, "1")
		r = appendMessage(r, 5, t)
		r = appendMessage(r, 6, make([]byte, b*itemOutBytes))
		inferOut[b] = r
	}
}

// ---------------------------------------------------------------------------------------------
// the service

var (
	copyInput   bool
	served      atomic.Int64 // ModelInfer calls answered
	items       atomic.Int64 // their batch items
	lastInferNs atomic.Int64
	callsMu     sync.Mutex
	calls       = map[string]*atomic.Int64{}
)

func counter(method string) *atomic.Int64 {
	callsMu.Lock()
	defer callsMu.Unlock()
	c := calls[method]
	if c == nil {
		c = new(atomic.Int64)
		calls[method] = c
	}
	return c
}

func modelInfer(q *inferRequest) (any, error) {
	if q.copied != nil {
		copyPool.Put(q.copied)
	}
	if string(q.model) != modelName {
		return nil, status.Errorf(codes.NotFound, "Request for unknown model: '%s' is not found", q.model)
	}
	if v := string(q.version); v != "" && v != "1" {
		return nil, status.Errorf(codes.NotFound, "Request for unknown model: '%s' version %s is not found", q.model, v)
	}
	if q.inputs != 1 || string(q.inputName) != "input" {
		return nil, status.Errorf(codes.InvalidArgument, "expected 1 input named 'input', got %d (first %q)", q.inputs, q.inputName)
	}
	if string(q.dtype) != "FP32" {
		return nil, status.Errorf(codes.InvalidArgument, "input 'input': datatype %s, expected FP32", q.dtype)
	}
	s := q.shape
	if len(s) != 4 || s[1] != 3 || s[2] != 224 || s[3] != 224 || s[0] < 1 || s[0] > maxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "input 'input': shape %v, expected [1..%d,3,224,224]", s, maxBatch)
	}
	b := int(s[0])
	if len(q.rawSizes) != 1 || q.rawSizes[0] != b*itemInBytes {
		return nil, status.Errorf(codes.InvalidArgument, "expected one raw_input_contents of %d bytes, got sizes %v", b*itemInBytes, q.rawSizes)
	}
	if q.badOutput != nil {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected inference output '%s' for model '%s'", q.badOutput, modelName)
	}
	served.Add(1)
	items.Add(int64(b))
	lastInferNs.Store(time.Now().UnixNano())
	if len(q.id) == 0 {
		return inferOut[b], nil
	}
	return mem.BufferSlice{mem.SliceBuffer(appendMessage(nil, 3, q.id)), mem.SliceBuffer(inferOut[b])}, nil
}

// model is the name (field 1) of a ModelReady/ModelMetadata/ModelConfig/ModelStatistics request
func checkModel(req []byte, allowEmpty bool) error {
	name := string(stringField(req, 1))
	if name == modelName || (allowEmpty && name == "") {
		return nil
	}
	return status.Errorf(codes.NotFound, "Request for unknown model: '%s' is not found", name)
}

func modelStatistics() []byte {
	n, it := uint64(served.Load()), uint64(items.Load())
	// InferStatistics: success, queue and compute_input/infer/output {count n, ns 0}; fail, cache_hit/miss
	// empty. perf_analyzer (without -x) takes the model version whose queue count grew in a window.
	done := appendVarint(nil, 1, n)
	var stats []byte
	for f := protowire.Number(1); f <= 8; f++ {
		if f == 2 || f >= 7 {
			stats = appendMessage(stats, f, nil)
		} else {
			stats = appendMessage(stats, f, done)
		}
	}
	m := appendString(nil, 1, modelName)
	m = appendString(m, 2, "1")
	m = appendVarint(m, 3, uint64(lastInferNs.Load()/1e6))
	m = appendVarint(m, 4, it)
	m = appendVarint(m, 5, n)
	m = appendMessage(m, 6, stats)
	return appendMessage(nil, 1, m) // ModelStatisticsResponse.model_stats
}

// unary returns a MethodDesc whose handler counts the call, reads the request as raw bytes and answers f's bytes
func unary(name string, f func(req []byte) (any, error)) grpc.MethodDesc {
	c := counter(name)
	return grpc.MethodDesc{MethodName: name, Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		c.Add(1)
		var req []byte
		if err := dec(&req); err != nil {
			return nil, err
		}
		return f(req)
	}}
}

func serviceDesc() *grpc.ServiceDesc {
	inferCalls := counter("ModelInfer")
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary("ServerLive", func([]byte) (any, error) { return trueResponse, nil }),
			unary("ServerReady", func([]byte) (any, error) { return trueResponse, nil }),
			unary("ModelReady", func(req []byte) (any, error) {
				if checkModel(req, false) != nil {
					return empty, nil // ready: false
				}
				return trueResponse, nil
			}),
			unary("ServerMetadata", func([]byte) (any, error) { return serverMeta, nil }),
			unary("ModelMetadata", func(req []byte) (any, error) {
				if err := checkModel(req, false); err != nil {
					return nil, err
				}
				return modelMeta, nil
			}),
			unary("ModelConfig", func(req []byte) (any, error) {
				if err := checkModel(req, false); err != nil {
					return nil, err
				}
				return modelConfig, nil
			}),
			unary("ModelStatistics", func(req []byte) (any, error) {
				if err := checkModel(req, true); err != nil {
					return nil, err
				}
				return modelStatistics(), nil
			}),
			{MethodName: "ModelInfer", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				inferCalls.Add(1)
				var q inferRequest
				if err := dec(&q); err != nil {
					return nil, err
				}
				return modelInfer(&q)
			}},
		},
		Metadata: "grpc_service.proto",
	}
}

func main() {
	port := flag.Int("port", 8001, "TCP port (0: a free one, printed)")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	flag.StringVar(&modelName, "model", "resnet50", "model name")
	window := flag.Int("window", 1<<20, "HTTP/2 initial stream window in bytes (grpc.InitialWindowSize; static windows); 0: grpc-go's default (64 KiB, grown by BDP estimation)")
	connWindow := flag.Int("conn-window", 16<<20, "HTTP/2 initial connection window in bytes (grpc.InitialConnWindowSize); 0: grpc-go's default")
	readBuf := flag.Int("read-buffer", 0, "grpc.ReadBufferSize in bytes (0: grpc-go's default, 32 KiB; -1: none, the framer reads the socket directly)")
	writeBuf := flag.Int("write-buffer", 0, "grpc.WriteBufferSize in bytes (0: grpc-go's default, 32 KiB; -1: none)")
	workers := flag.Int("stream-workers", 0, "grpc.NumStreamWorkers (0: a goroutine per stream, grpc-go's default)")
	flag.BoolVar(&copyInput, "copy-input", false, "copy each request's tensor bytes once into a pooled buffer (what a real server must at least do)")
	flag.Parse()
	buildResponses()

	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(64 << 20), // 32 items of 602,112 bytes = 19.3 MB, plus headroom
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			m, _ := grpc.MethodFromServerStream(stream)
			counter("unimplemented " + m).Add(1)
			return status.Errorf(codes.Unimplemented, "grpc-sink: %s is not implemented", m)
		}),
	}
	if *window > 0 {
		opts = append(opts, grpc.InitialWindowSize(int32(*window)))
	}
	if *connWindow > 0 {
		opts = append(opts, grpc.InitialConnWindowSize(int32(*connWindow)))
	}
	if *readBuf != 0 {
		opts = append(opts, grpc.ReadBufferSize(max(*readBuf, 0)))
	}
	if *writeBuf != 0 {
		opts = append(opts, grpc.WriteBufferSize(max(*writeBuf, 0)))
	}
	if *workers > 0 {
		opts = append(opts, grpc.NumStreamWorkers(uint32(*workers)))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(serviceDesc(), nil)

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc-sink:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		report := map[string]any{"calls": snapshot(), "modelInferServed": served.Load(), "items": items.Load()}
		line, _ := json.Marshal(report)
		fmt.Fprintf(os.Stderr, "grpc-sink stats %s\n", line)
		os.Exit(0)
	}()
	fmt.Printf("grpc-sink listening on %s gomaxprocs %d model %s window %d conn-window %d read-buffer %d write-buffer %d stream-workers %d copy-input %v %s grpc-go %s\n",
		lis.Addr(), runtime.GOMAXPROCS(0), modelName, *window, *connWindow, *readBuf, *writeBuf, *workers, copyInput, runtime.Version(), grpc.Version)
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "grpc-sink:", err)
		os.Exit(1)
	}
}

// snapshot: calls per method (those with none left out)
func snapshot() map[string]int64 {
	callsMu.Lock()
	defer callsMu.Unlock()
	out := map[string]int64{}
	for n, c := range calls {
		if v := c.Load(); v > 0 {
			out[n] = v
		}
	}
	return out
}
