// Findings of the misuse fuzzer in code that is being fixed elsewhere, each named by the
// file that must change. A call that fails in one of these ways is counted under `known` (and
// printed) instead of failing the run; an entry that no batch matches any more is reported as
// stale, so the list shrinks as the fixes land. Add nothing here to make a run pass that
// is not written down as a bug to fix.
//
// match(f): f = { kind: 'untyped' | 'rejected' | 'ubsan', op, desc, error } → true when it is this
// finding (for 'ubsan', desc is the source location and error UBSan's message).
// Empty since 2026-12-07: the last two entries (Stream/ExecutionContext receivers and float casts) were
// fixed with the type tags and integer checks of common.h, and the ASan run matched neither.
export const KNOWN = [];

// Calls that crash the process in code outside this fuzzer's reach to fix right now: run only
// when asked (--probe id,id), so that the rest of a run is not lost to them. Each names its
// owner and its repro; when fixed, the probe moves into the default run.
// Empty since 2026-12-07: 'shm-truncate-touch' (a mapSharedMemory mapping read after its object
// was truncated to 0: SIGBUS) reads zeros under shared_memory.cc's SIGBUS guard, and the default
// run now does it.
export const CRASH_PROBES = [];
