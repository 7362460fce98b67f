// A small seeded random number generator (sfc32), so workloads and arrival times replay exactly.

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi], both included. */
  int(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  /** Exponentially distributed with the given mean. */
  exp(mean: number): number;
  /** An independent generator for one part of a workload, so changing one part does not shift the others. */
  fork(label: string): Rng;
}

export function createRng(seed: number): Rng {
  // sfc32 seeded through xxHash32, so nearby seeds give unrelated streams.
  let a = Bun.hash.xxHash32('a', seed >>> 0);
  let b = Bun.hash.xxHash32('b', seed >>> 0);
  let c = Bun.hash.xxHash32('c', seed >>> 0);
  let d = 1;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  const rng: Rng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    exp: (mean) => -mean * Math.log(1 - next()),
    fork: (label) => createRng(Bun.hash.xxHash32(label, seed >>> 0)),
  };
  return rng;
}
