// Endpoint tags (metadata, labels, URL) and request phase detection, as the QoE seeds define them.
import { describe, expect, test } from 'bun:test';
import { alwaysClosed } from '../../src/core/circuit-breaker.ts';
import { createEndpoint, type EndpointSpec } from '../../src/core/endpoint.ts';
import { resolveQoeOptions } from '../../src/policies/qoe/options.ts';
import { detectPhase } from '../../src/policies/qoe/phase.ts';
import { requestProfile } from '../../src/policies/qoe/request-profile.ts';
import { parsePriority, qoeExpectation } from '../../src/signals/qoe-expectation.ts';
import { hasTag, taggedPool } from '../../src/policies/qoe/tags.ts';
import { chat, request } from '../policies/routing-fixtures.ts';

const ep = (spec: EndpointSpec) => createEndpoint(spec, alwaysClosed());
const OPTIONS = resolveQoeOptions();

describe('endpoint tags', () => {
  test('come from metadata tags, tag-like labels, the PD role, or the URL host and path', () => {
    expect(hasTag(ep({ url: 'http://10.0.0.1:8000', tags: ['Prefill'] }), 'prefill')).toBe(true);
    expect(hasTag(ep({ url: 'http://10.0.0.1:8000', labels: { role: 'decode' } }), 'decode')).toBe(true);
    expect(hasTag(ep({ url: 'http://10.0.0.1:8000', labels: { tags: 'gpu-a100, decoding' } }), 'decoding')).toBe(true);
    expect(hasTag(ep({ url: 'http://10.0.0.1:8000', role: 'prefill' }), 'prefill')).toBe(true);
    expect(hasTag(ep({ url: 'http://vllm-PREFILL-1.example.com' }), 'prefill')).toBe(true);
    expect(hasTag(ep({ url: 'http://gateway:8000/decoding/v1' }), 'decoding')).toBe(true);
    // The seeds' other place: the endpoint's name (a discovered pod's, or the admin API's labels.name).
    expect(hasTag(ep({ url: 'http://10.0.0.7:8000', name: 'vllm-Decoding-0' }), 'decoding')).toBe(true);
    expect(hasTag(ep({ url: 'http://10.0.0.7:8000', labels: { name: 'llama-prefill-a' } }), 'prefill')).toBe(true);
    expect(hasTag(ep({ url: 'http://10.0.0.7:8000', name: 'vllm-decoding-0' }), 'prefill')).toBe(false);
  });

  test('do not match other labels, the scheme or the port', () => {
    expect(hasTag(ep({ url: 'http://10.0.0.1:8000', labels: { app: 'prefill' } }), 'prefill')).toBe(false);
    expect(hasTag(ep({ url: 'http://10.0.0.1:8000' }), 'http')).toBe(false);
    expect(hasTag(ep({ url: 'http://10.0.0.1:8000' }), '8000')).toBe(false);
    expect(hasTag(ep({ url: 'http://vllm-1:8000', tags: ['decode'] }), 'prefill')).toBe(false);
  });

  test('pool for a phase: the endpoints tagged for it, or none when no candidate is', () => {
    const p = ep({ url: 'http://vllm-prefill-1:8000' });
    const d1 = ep({ url: 'http://vllm-decoding-1:8000' });
    const d2 = ep({ url: 'http://10.0.0.9:8000', tags: ['decode'] });
    const plain = ep({ url: 'http://10.0.0.7:8000' });
    expect(taggedPool([p, d1, d2, plain], 'prefill', OPTIONS)).toEqual([p]);
    expect(taggedPool([p, d1, d2, plain], 'decode', OPTIONS)).toEqual([d1, d2]);
    expect(taggedPool([d1, plain], 'prefill', OPTIONS)).toBeUndefined();
  });
});

describe('phase detection', () => {
  test('a parent id marks a continuation, whatever the messages', () => {
    expect(detectPhase({ parent_id: 'm1', messages: [{ role: 'user', content: 'hi' }] })).toBe('decode');
    expect(detectPhase({ previous_message_id: 7, prompt: 'x' })).toBe('decode');
    expect(detectPhase({ previous_response_id: 'resp_1', input: 'x' })).toBe('decode');
    expect(detectPhase({ parent_id: null, messages: [{ role: 'user', content: 'hi' }] })).toBe('prefill');
  });

  test('an assistant turn marks a continuation; a first turn, a prompt or an unreadable body is prefill', () => {
    expect(detectPhase(chat([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'more' }]).body)).toBe('decode');
    expect(detectPhase({ input: [{ role: 'assistant', content: 'x' }] })).toBe('decode');
    expect(detectPhase(chat([{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }]).body)).toBe('prefill');
    expect(detectPhase({ messages: [] })).toBe('prefill');
    expect(detectPhase({ prompt: 'once upon a time' })).toBe('prefill');
    expect(detectPhase({ messages: 'not a list' })).toBe('prefill');
    expect(detectPhase({ messages: [null, 3, 'x'] })).toBe('prefill');
    expect(detectPhase(undefined)).toBe('prefill');
  });
});

describe('request profile', () => {
  test('reads priority and the TTFT and TPOT targets from the configured headers; an expected output length is not read', () => {
    const p = requestProfile(
      request({ headers: { 'x-request-priority': '1', 'x-expected-output-tokens': '2048', 'x-sla-target-ms': '500', 'x-sla-tpot-ms': '40' }, body: { prompt: 'x' } }),
      undefined,
      OPTIONS,
    );
    expect(p).toEqual({ phase: 'prefill', stage: undefined, priority: 1, slaTargetMs: 500, tpotTargetMs: 40 });
    const renamed = resolveQoeOptions({ headers: { priority: 'x-prio', slaTarget: 'x-ttft-budget', slaTpot: 'x-tpot-budget' } });
    const q = requestProfile(request({ headers: { 'x-prio': '3', 'x-ttft-budget': '900', 'x-tpot-budget': '25', 'x-request-priority': '1' } }), 'decode', renamed);
    expect(q).toMatchObject({ priority: 3, slaTargetMs: 900, tpotTargetMs: 25, stage: 'decode', phase: 'decode' });
  });

  test('defaults: priority 2, the configured TTFT and ITL targets', () => {
    const p = requestProfile(request({ headers: { 'x-sla-target-ms': '-5', 'x-sla-tpot-ms': 'fast' } }), undefined, resolveQoeOptions({ targetTtftMs: 250, targetItlMs: 30 }));
    expect(p).toMatchObject({ priority: 2, slaTargetMs: 250, tpotTargetMs: 30 });
  });

  test('priority is clamped to 1..3 and rounded; garbage is the default', () => {
    expect([parsePriority('0'), parsePriority('1.4'), parsePriority('2.6'), parsePriority('9'), parsePriority('high'), parsePriority(''), parsePriority(null)]).toEqual([1, 1, 3, 3, 2, 2, 2]);
  });

  test('the streaming QoE expectation takes the SLA target and reading pace from headers, else defaults', () => {
    const o = resolveQoeOptions({ targetTtftMs: 400, optimalThroughput: 20 });
    expect(qoeExpectation(new Headers(), o)).toEqual({ ttftMs: 400, tokensPerSecond: 20 });
    expect(qoeExpectation(new Headers({ 'x-sla-target-ms': '250', 'x-expected-tokens-per-second': '8' }), o)).toEqual({ ttftMs: 250, tokensPerSecond: 8 });
    expect(qoeExpectation(new Headers(), resolveQoeOptions({ expectedTokensPerSecond: 6 })).tokensPerSecond).toBe(6);
  });
});
