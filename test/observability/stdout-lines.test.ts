// Log lines are gathered for a short while: same lines, same order, few writes, nothing held back past the
// batch delay or past `flush`.
import { describe, expect, test } from 'bun:test';
import { stdoutLines } from '../../src/log/stdout-lines.ts';

function recorder() {
  const writes: string[] = [];
  return { writes, out: { write: (chunk: string) => writes.push(chunk) } };
}

/** Resolves once the recorder has seen `n` writes (the batch delay has passed). */
async function writesReach(writes: string[], n: number): Promise<void> {
  while (writes.length < n) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('stdoutLines', () => {
  test('lines written close together go out together, in order, without a flush', async () => {
    const { writes, out } = recorder();
    const sink = stdoutLines(out);
    sink.write('one');
    sink.write('two');
    await new Promise<void>((resolve) => setImmediate(resolve));
    sink.write('three');
    expect(writes).toEqual([]);
    await writesReach(writes, 1);
    expect(writes).toEqual(['one\ntwo\nthree\n']);
    sink.write('four');
    await writesReach(writes, 2);
    expect(writes).toEqual(['one\ntwo\nthree\n', 'four\n']);
  });

  test('flush sends what is pending at once, and the batch timer then has nothing left to send', async () => {
    const { writes, out } = recorder();
    const sink = stdoutLines(out);
    sink.write('drained, exiting');
    sink.flush();
    expect(writes).toEqual(['drained, exiting\n']);
    sink.write('later');
    await writesReach(writes, 2);
    expect(writes).toEqual(['drained, exiting\n', 'later\n']);
  });

  test('a burst larger than the batch bound goes out without waiting for the turn to end', () => {
    const { writes, out } = recorder();
    const sink = stdoutLines(out);
    const line = 'x'.repeat(1000);
    for (let i = 0; i < 100; i++) sink.write(line);
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.join('').length).toBeLessThan(100 * 1001);
    sink.flush();
    expect(writes.join('')).toBe(`${line}\n`.repeat(100));
  });
});
