// One GC marker thread per JavaScriptCore heap instead of one per core. The main heap's eden collections visit
// little (under 1 MB under 10 streams), yet with the default (a helper thread per core) each one waits for its
// helpers to be scheduled, finish and agree the mark stack is empty: on a busy or CPU-limited host (2 cores, a
// container's quota) that wait made eden pauses of 3–21 ms out of ~1 ms of work, the event-loop blocks of gRPC
// engine mode (issue #19; bench/README.md "bench:grpc" has the measurements). JSC reads its options once, at process
// start, so the variable is set by the re-exec of startup/fetch-limit.ts; a value the operator set is kept.

export const GC_MARKERS_VARIABLE = 'BUN_JSC_numberOfGCMarkers';

/** The variables the router's process must start with for its GC: none when the operator chose the marker count. */
export function gcMarkerEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return env[GC_MARKERS_VARIABLE] !== undefined && env[GC_MARKERS_VARIABLE] !== '' ? {} : { [GC_MARKERS_VARIABLE]: '1' };
}
