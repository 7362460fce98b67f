// The pool threads run at a lower CPU priority than the event loop. A 32k-token prompt keeps a pool thread busy
// for 30–55 ms; on a machine with as many busy threads as cores, the event loop then waited for a core for
// several milliseconds at a time (bench/grpc.ts measures it from the router thread's schedstat). Linux nice values
// are per thread (setpriority(2), "NOTES"), so this lowers only the calling pool thread; the event loop keeps its
// priority and gets the core back as soon as it has work. Elsewhere the call would renice the whole process.
import { setPriority } from 'node:os';

/** The nice value of pool threads: CFS then weights them 110 against the event loop's 1024. */
export const POOL_THREAD_NICE = 10;

/** Lowers the calling thread's priority to `nice` (Linux only); a warning when it could not. */
export function lowerThreadPriority(nice: number): string | undefined {
  if (process.platform !== 'linux' || nice === 0) return undefined;
  try {
    setPriority(0, nice);
    return undefined;
  } catch (error) {
    return `the tokenizer pool thread could not lower its CPU priority to nice ${nice}: ${(error as Error).message}`;
  }
}
