// JavaScriptCore's GC log (BUN_JSC_logGC=1, on stderr) of a router process, read while the benchmark runs: the
// collections of its main heap and their pauses over a window. A line reads
//   [GC<0x…118>: START M 83845kb => EdenCollection, … v=3kb … => 79705kb, p=3.309276ms (max …), cycle … END]
// Each JS thread has its own heap; the main thread's is created first and has the lowest address (checked on
// Bun 1.4.5 against a start-up log, where the pool threads' heaps appear after the main one), so the main heap is
// taken to be the lowest address seen in the window.
import type { Subprocess } from 'bun';

export interface GcPauses {
  readonly collections: number;
  readonly eden: number;
  readonly full: number;
  readonly p50: number;
  readonly max: number;
  readonly over3: number;
  readonly over5: number;
  /** The same for the other heaps (the tokenizer pool's threads), whose pauses do not hold the event loop. */
  readonly otherHeaps: { readonly collections: number; readonly max: number };
}

export interface GcLog {
  /** A mark in the log: where a window starts. */
  mark(): number;
  /** The main heap's collections since `from`. */
  since(from: number): GcPauses;
}

/** Reads `proc`'s stderr to its end (it must be drained anyway: a full pipe would stop the router). */
export function readGcLog(proc: Subprocess<'ignore', 'pipe', 'pipe'>): GcLog {
  let text = '';
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) text += decoder.decode(chunk, { stream: true });
  })();
  return {
    mark: () => text.length,
    since(from) {
      const byHeap = new Map<string, { kind: string; pause: number }[]>();
      for (const m of text.slice(from).matchAll(/\[GC<(0x[0-9a-f]+)>: START M \d+kb => (\w+)Collection.*?p=([\d.]+)ms/g)) {
        const list = byHeap.get(m[1]!) ?? [];
        list.push({ kind: m[2]!, pause: Number(m[3]) });
        byHeap.set(m[1]!, list);
      }
      const heaps = [...byHeap.keys()].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
      const main = heaps.length > 0 ? byHeap.get(heaps[0]!)! : [];
      const others = heaps.slice(1).flatMap((h) => byHeap.get(h)!);
      const pauses = main.map((c) => c.pause).sort((a, b) => a - b);
      return {
        collections: main.length,
        eden: main.filter((c) => c.kind === 'Eden').length,
        full: main.filter((c) => c.kind !== 'Eden').length,
        p50: pauses[Math.floor(pauses.length / 2)] ?? Number.NaN,
        max: pauses.at(-1) ?? Number.NaN,
        over3: pauses.filter((p) => p > 3).length,
        over5: pauses.filter((p) => p > 5).length,
        otherHeaps: { collections: others.length, max: Math.max(0, ...others.map((c) => c.pause)) },
      };
    },
  };
}
