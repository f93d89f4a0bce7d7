package main

import (
	"bytes"
	"math/rand"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// a ModelInferRequest as tritonclient writes it (fields in number order), with B items of raw input
func request(b int, id string) []byte {
	in := appendPacked(appendString(appendString(nil, 1, "input"), 2, "FP32"), 3, int64(b), 3, 224, 224)
	r := appendString(nil, 1, "resnet50")
	if id != "" {
		r = appendString(r, 3, id)
	}
	r = appendMessage(r, 4, appendString(nil, 1, "k")) // a parameters map entry, skipped
	r = appendMessage(r, 5, in)
	r = appendMessage(r, 6, appendString(nil, 1, "output"))
	raw := bytes.Repeat([]byte{7}, b*itemInBytes)
	return appendMessage(r, 7, raw)
}

// the request split into random pieces, as grpc-go's receive buffers hold it
func split(msg []byte, rng *rand.Rand) mem.BufferSlice {
	var s mem.BufferSlice
	for len(msg) > 0 {
		n := min(len(msg), 1+rng.Intn(40))
		if rng.Intn(4) == 0 {
			n = min(len(msg), 1+rng.Intn(20000))
		}
		s = append(s, mem.SliceBuffer(msg[:n]))
		msg = msg[n:]
	}
	return s
}

func TestParseAcrossBuffers(t *testing.T) {
	modelName = "resnet50"
	buildResponses()
	rng := rand.New(rand.NewSource(1))
	for _, b := range []int{1, 3} {
		msg := request(b, "req-7")
		for i := 0; i < 200; i++ {
			for _, cp := range []bool{false, true} {
				copyInput = cp
				var q inferRequest
				if err := (rawCodec{}).Unmarshal(split(msg, rng), &q); err != nil {
					t.Fatalf("B=%d: %v", b, err)
				}
				if string(q.model) != "resnet50" || string(q.id) != "req-7" || string(q.inputName) != "input" || string(q.dtype) != "FP32" ||
					len(q.shape) != 4 || q.shape[0] != int64(b) || len(q.rawSizes) != 1 || q.rawSizes[0] != b*itemInBytes {
					t.Fatalf("B=%d: parsed %+v", b, q)
				}
				if cp && !bytes.Equal(*q.copied, msg[len(msg)-b*itemInBytes:]) {
					t.Fatalf("B=%d: copied input differs", b)
				}
				if _, err := modelInfer(&q); err != nil {
					t.Fatalf("B=%d: %v", b, err)
				}
			}
		}
	}
	copyInput = false
}

func TestInferResponse(t *testing.T) {
	modelName = "resnet50"
	buildResponses()
	var q inferRequest
	if err := (rawCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(request(8, ""))}, &q); err != nil {
		t.Fatal(err)
	}
	out, err := modelInfer(&q)
	if err != nil {
		t.Fatal(err)
	}
	r := out.([]byte)
	// ModelInferResponse: model_name, model_version, outputs {output FP32 [8,1000]}, raw_output_contents of 32,000 bytes
	var names, raw []byte
	var shape []int64
	for len(r) > 0 {
		num, _, n := protowire.ConsumeTag(r)
		r = r[n:]
		v, n := protowire.ConsumeBytes(r)
		r = r[n:]
		switch num {
		case 5:
			names = stringField(v, 1)
			var q2 inferRequest
			if err := q2.parseInput(v); err != nil {
				t.Fatal(err)
			}
			shape = q2.shape
		case 6:
			raw = v
		}
	}
	if string(names) != "output" || len(shape) != 2 || shape[0] != 8 || shape[1] != 1000 || len(raw) != 8*itemOutBytes {
		t.Fatalf("response: output %q shape %v, %d raw bytes", names, shape, len(raw))
	}
	// errors a server must give
	bad := request(1, "")
	bad = bad[:len(bad)-1] // truncated
	if err := (rawCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(bad)}, &inferRequest{}); err == nil {
		t.Fatal("truncated request accepted")
	}
	q = inferRequest{model: []byte("resnet50"), inputs: 1, inputName: []byte("input"), dtype: []byte("FP32"), shape: []int64{2, 3, 224, 224}, rawSizes: []int{itemInBytes}}
	if _, err := modelInfer(&q); err == nil {
		t.Fatal("wrong raw_input_contents size accepted")
	}
}
