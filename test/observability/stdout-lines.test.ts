// Log lines are gathered per event-loop turn: same lines, same order, one write per turn, nothing held back
// past a turn or past `flush`.
import { describe, expect, test } from 'bun:test';
import { stdoutLines } from '../../src/log/stdout-lines.ts';

function recorder() {
  const writes: string[] = [];
  return { writes, out: { write: (chunk: string) => writes.push(chunk) } };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('stdoutLines', () => {
  test('lines written in one turn go out together, in order, at the next turn', async () => {
    const { writes, out } = recorder();
    const sink = stdoutLines(out);
    sink.write('one');
    sink.write('two');
    sink.write('three');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['one\ntwo\nthree\n']);
    sink.write('four');
    await nextTurn();
    expect(writes).toEqual(['one\ntwo\nthree\n', 'four\n']);
  });

  test('flush sends what is pending at once, and the scheduled turn then has nothing to send', async () => {
    const { writes, out } = recorder();
    const sink = stdoutLines(out);
    sink.write('drained, exiting');
    sink.flush();
    expect(writes).toEqual(['drained, exiting\n']);
    await nextTurn();
    expect(writes).toEqual(['drained, exiting\n']);
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
