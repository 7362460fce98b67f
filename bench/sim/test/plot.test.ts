import { describe, expect, test } from 'bun:test';
import { inflateSync } from 'node:zlib';
import { renderChart, linearTicks, logTicks } from '../plot/line-chart.ts';
import { crc32, encodePng } from '../plot/png.ts';

/** Splits a PNG into its chunks, checking each CRC. */
function chunks(png: Uint8Array): { type: string; data: Uint8Array }[] {
  expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: { type: string; data: Uint8Array }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    expect(view.getUint32(at + 8 + length)).toBe(crc32(png, at + 4, at + 8 + length));
    out.push({ type, data: png.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return out;
}

describe('PNG output', () => {
  test('encodes RGB pixels that a zlib inflater reads back', () => {
    const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const parts = chunks(encodePng(2, 2, rgb));
    expect(parts.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const ihdr = new DataView(parts[0]!.data.buffer, parts[0]!.data.byteOffset);
    expect([ihdr.getUint32(0), ihdr.getUint32(4), parts[0]!.data[8], parts[0]!.data[9]]).toEqual([2, 2, 8, 2]);
    const raw = inflateSync(parts[1]!.data);
    expect([...raw]).toEqual([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30]);
  });

  test('a chart is a PNG of the requested size with ink in it', () => {
    const png = renderChart({ title: 'TTFT', xLabel: 'ms', yLabel: 'fraction', series: [{ name: 'round_robin', points: [[10, 0.1], [100, 0.5], [1000, 1]] }], xLog: true, width: 400, height: 300 });
    const parts = chunks(png);
    const ihdr = new DataView(parts[0]!.data.buffer, parts[0]!.data.byteOffset);
    expect([ihdr.getUint32(0), ihdr.getUint32(4)]).toEqual([400, 300]);
    const raw = inflateSync(Buffer.concat(parts.filter((c) => c.type === 'IDAT').map((c) => c.data)));
    const dark = raw.filter((v, i) => i % (400 * 3 + 1) !== 0 && v < 100).length;
    expect(dark).toBeGreaterThan(1000);
  });

  test('axis ticks are round numbers', () => {
    expect(linearTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(linearTicks(12, 20, 4)).toEqual([12, 14, 16, 18, 20]);
    expect(logTicks(20, 3000)).toEqual([20, 50, 100, 200, 500, 1000, 2000]);
  });
});
