// Reading request bodies within --max-payload-size and the shared --max-inflight-body-bytes budget.
import { describe, expect, test } from 'bun:test';
import { createBodyBudget, DEFAULT_INFLIGHT_BODY_BYTES, inflightBodyBytes } from '../../src/http/body-budget.ts';
import { readBody, type BodyLimits } from '../../src/http/body.ts';
import { isRouterError } from '../../src/wire/errors.ts';

const declared = (n: number) => new Request('http://r/v1/completions', { method: 'POST', headers: { 'content-length': String(n) }, body: new Uint8Array(n) });
const chunked = (sizes: number[]) => {
  const chunks = sizes.map((n) => new Uint8Array(n));
  return new Request('http://r/v1/completions', { method: 'POST', body: new ReadableStream({ pull: (c) => (chunks.length > 0 ? c.enqueue(chunks.shift()!) : c.close()) }) });
};

describe('body budget', () => {
  test('leases add up to the limit; a release gives its bytes back once, however often it is called', () => {
    const seen: number[] = [];
    const budget = createBodyBudget(100, (held) => seen.push(held));
    const a = budget.reserve(60)!;
    expect(budget.reserve(41)).toBeUndefined();
    const b = budget.reserve(40)!;
    expect(budget.held()).toBe(100);
    expect(b.grow(1)).toBe(false);
    a.release();
    a.release();
    expect(a.bytes).toBe(0);
    expect(b.grow(50)).toBe(true);
    expect(b.bytes).toBe(90);
    b.release();
    expect(budget.held()).toBe(0);
    expect(seen).toEqual([60, 100, 40, 90, 0]);
    expect(b.grow(1)).toBe(false);
  });

  test('the default is 1 GiB, raised to --max-payload-size when that is larger', () => {
    expect(inflightBodyBytes(undefined, 512 * 1024 * 1024)).toBe(DEFAULT_INFLIGHT_BODY_BYTES);
    expect(inflightBodyBytes(undefined, 2 * DEFAULT_INFLIGHT_BODY_BYTES)).toBe(2 * DEFAULT_INFLIGHT_BODY_BYTES);
    expect(inflightBodyBytes(5000, 1000)).toBe(5000);
  });
});

describe('readBody', () => {
  const limits = (limit: number, max = limit): BodyLimits & { refused: number } => {
    const out = { maxBytes: max, budget: createBodyBudget(limit), refused: 0, onOverBudget: () => out.refused++ };
    return out;
  };

  test('a declared body reserves its length before it is read and keeps it until released', async () => {
    const l = limits(100);
    const body = await readBody(declared(70), l);
    if (isRouterError(body)) throw new Error(body.message);
    expect([body.bytes.byteLength, l.budget.held()]).toEqual([70, 70]);
    const refused = declared(31);
    const r = await readBody(refused, l);
    expect(isRouterError(r) && [r.kind, r.retryAfterSecs]).toEqual(['body_budget_exhausted', 1]);
    expect(refused.bodyUsed).toBe(false);
    expect(l.refused).toBe(1);
    body.lease.release();
    expect(l.budget.held()).toBe(0);
  });

  test('a chunked body reserves as it grows; refused, it holds nothing', async () => {
    const l = limits(100);
    const first = await readBody(chunked([30, 30]), l);
    if (isRouterError(first)) throw new Error(first.message);
    expect(l.budget.held()).toBe(60);
    const r = await readBody(chunked([20, 20, 20]), l);
    expect(isRouterError(r) && r.kind).toBe('body_budget_exhausted');
    expect(l.budget.held()).toBe(60);
    first.lease.release();
    const tooLarge = await readBody(chunked([60, 60]), limits(1000, 100));
    expect(isRouterError(tooLarge) && tooLarge.kind).toBe('payload_too_large');
  });

  test('a body larger than --max-payload-size is refused by its declared length, before the budget', async () => {
    const l = limits(1000, 100);
    const r = await readBody(declared(101), l);
    expect(isRouterError(r) && r.kind).toBe('payload_too_large');
    expect([l.budget.held(), l.refused]).toEqual([0, 0]);
  });
});
