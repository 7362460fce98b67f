// The engine answers a PD router reads whole (a prefill answer, a decode answer it merges logprobs into) are
// read up to --max-buffered-response-size: past it the client gets a clear 502, not a router that grows with
// whatever an engine sends (issue #6, item 4).
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../../testkit/mock-engine.ts';
import { parseEnvelope } from '../../support/parse-envelope.ts';
import { startPdTestServer } from './pd-harness.ts';
import { until } from '../../../testkit/until.ts';

const MiB = 1024 * 1024;
const post = (url: string, path: string, body: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const PROMPT = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen';
const generations = (e: { received: readonly { path: string }[] }) => e.received.filter((r) => r.path === '/v1/completions').length;

/** The client's view of a refusal: status and envelope. */
async function refusal(res: Response) {
  const envelope = parseEnvelope(await res.text());
  return { status: res.status, code: envelope?.code, message: envelope?.message ?? '' };
}

describe('answers read whole are capped', () => {
  test('vLLM PD: a prefill answer over the cap fails the request with 502, unretried, and decode never runs', async () => {
    await using p = await startMockEngine({ role: 'prefill', model: 'm', answerPadBytes: 2 * MiB });
    await using d = await startMockEngine({ role: 'decode', model: 'm' });
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }], connector: 'nixl', maxAnswerBytes: MiB });
    const r = await refusal(await post(h.url, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2 }));
    expect([r.status, r.code]).toEqual([502, 'upstream_too_large']);
    expect(r.message).toContain(`Prefill endpoint ${p.url} answered more than ${MiB} bytes (--max-buffered-response-size)`);
    await until(() => h.pd.outcomes().length === 1, 'the outcome');
    expect(h.pd.outcomes()).toEqual(['prefill_error']);
    expect([generations(p), generations(d)]).toEqual([1, 0]);

    p.set({ answerPadBytes: MiB / 2 });
    expect((await post(h.url, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2 })).status).toBe(200);
  });

  test('vLLM PD: a decode answer over the cap that logprobs would be merged into is a 502 too', async () => {
    await using p = await startMockEngine({ role: 'prefill', model: 'm' });
    await using d = await startMockEngine({ role: 'decode', model: 'm', answerPadBytes: 2 * MiB });
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }], connector: 'nixl', maxAnswerBytes: MiB });
    const r = await refusal(await post(h.url, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2, logprobs: 1 }));
    expect([r.status, r.code]).toEqual([502, 'upstream_too_large']);
    expect(r.message).toContain(`Decode endpoint ${d.url} answered more than ${MiB} bytes`);
    // Without a merge the same answer is only relayed, and relayed answers are not capped (they stream).
    const relayed = await post(h.url, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2 });
    expect(relayed.status).toBe(200);
    expect((await relayed.arrayBuffer()).byteLength).toBeGreaterThan(2 * MiB);
  });

  test('SGLang PD: a prefill answer over the cap that the router waits for (return_logprob) is a 502', async () => {
    await using p = await startMockEngine({ model: 'm', answerPadBytes: 2 * MiB });
    await using d = await startMockEngine({ model: 'm' });
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: p.url }], decode: [{ url: d.url }], maxAnswerBytes: MiB, maxAttempts: 1 });
    const r = await refusal(await post(h.url, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2, return_logprob: true }));
    expect([r.status, r.code]).toEqual([502, 'upstream_too_large']);
    expect(r.message).toContain(`Prefill endpoint ${p.url} answered more than ${MiB} bytes`);
  });
});
