// Findings of the misuse fuzzer in code that is being fixed elsewhere, each named by the
// file that must change. A call that fails in one of these ways is counted under `known` (and
// printed) instead of failing the run; an entry that no batch matches any more is reported as
// stale, so the list shrinks as the fixes land. Add nothing here to make a run pass that
// is not written down as a bug to fix.
//
// match(f): f = { kind: 'untyped' | 'rejected' | 'ubsan', op, desc, error } → true when it is this
// finding (for 'ubsan', desc is the source location and error UBSan's message).
export const KNOWN = [
  {
    id: 'stream-context-receiver',
    owner: 'native/src/stream.cc, native/src/context.cc',
    what:
      'Stream and ExecutionContext accessors run on any object (node-addon-api checks no accessor receiver): ' +
      'on a non-wrapped object napi_unwrap fails with an untyped "Invalid argument"; on an object of another ' +
      'native class (GPU only) the getter reads it as the wrong C++ type. Fix: declare ' +
      '`static Stream* Unwrap(const Napi::Object& o) { return CheckedUnwrap<Stream>(o, &kStreamTag, "Stream"); }` ' +
      '(and the same for ExecutionContext with kContextTag), tag the object in the constructor ' +
      '(info.This().As<Napi::Object>().TypeTag(&kStreamTag)) and check the tag in FromJs instead of InstanceOf (common.h).',
    // the accessor is reached directly, or as a getter of a fake Stream / ExecutionContext read as an options object
    match: (f) => /^Error code=undefined Invalid argument$/.test(f.error) && (/^(Stream|ExecutionContext)\.get \w+/.test(f.op) || /fake (Stream|ExecutionContext)/.test(f.desc)),
  },
  {
    id: 'stream-context-float-casts',
    owner: 'native/src/stream.cc, native/src/context.cc',
    ubsan: true,
    what:
      'Numbers from JS cast to int / int64_t / size_t without a range check (undefined behaviour for NaN, ±Infinity ' +
      'and out-of-range values; UBSan -fsanitize=float-cast-overflow): Stream device/priority, ExecutionContext ' +
      'profile, benchmark iterations, DimsFromJs. Fix: IntegerArg / GetInteger / DeviceArg (common.h).',
    match: (f) => f.kind === 'ubsan' && /^native\/src\/(stream|context)\.cc:/.test(f.desc) && /outside the range of representable values/.test(f.error),
  },
];

// Calls that crash the process in code outside this fuzzer's reach to fix right now: run only
// when asked (--probe id,id), so that the rest of a run is not lost to them. Each names its
// owner and its repro; when fixed, the probe moves into the default run.
export const CRASH_PROBES = [
  {
    id: 'truncated-library',
    owner: 'native/src/trt_library.cc',
    what:
      "new Runtime({ libraryPath }) of a truncated copy of a TensorRT library (its first 8 KiB): glibc's dlopen maps " +
      'segments the file does not hold and the process dies of SIGBUS. Fix: before dlopen, read the ELF program ' +
      'headers and refuse (ERR_TRT_NOT_FOUND) a file shorter than its PT_LOAD segments.',
  },
  {
    id: 'shm-truncate-touch',
    owner: 'native/src/shared_memory.cc (and lib/server/shared-memory.ts)',
    what:
      'mapSharedMemory(key, 0, n), then the object is truncated to 0 bytes, then a byte of the mapping is read: SIGBUS ' +
      '(a client may shrink its region while the server holds a mapping of it).',
  },
];
