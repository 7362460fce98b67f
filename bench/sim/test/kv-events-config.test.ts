import { describe, expect, test } from 'bun:test';
import { offsetEndpointPort, parseKvEventsConfig, publisherEndpoints, type KvEventsConfig } from '../kv-events/kv-events-config.ts';

const parse = (value: unknown) => parseKvEventsConfig(JSON.stringify(value));
const config = (over: Partial<KvEventsConfig> = {}): KvEventsConfig => ({ endpoint: 'tcp://*:5557', replayEndpoint: null, topic: '', bufferSteps: 10_000, hwm: 100_000, ...over });

describe('--kv-events-config', () => {
  test("vLLM's defaults; events on only with enable_kv_cache_events and a publisher that is not null", () => {
    expect(parse({ enable_kv_cache_events: true })).toEqual({ ok: true, value: config() });
    expect(parse({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: 'tcp://*:6000', replay_endpoint: 'tcp://*:6001', topic: 'kv', buffer_steps: 5, hwm: 0, max_queue_size: 9 })).toEqual({
      ok: true,
      value: config({ endpoint: 'tcp://*:6000', replayEndpoint: 'tcp://*:6001', topic: 'kv', bufferSteps: 5, hwm: 0 }),
    });
    expect(parse({})).toEqual({ ok: true, value: null });
    expect(parse({ publisher: 'zmq' })).toEqual({ ok: true, value: null });
    expect(parse({ enable_kv_cache_events: true, publisher: 'null' })).toEqual({ ok: true, value: null });
  });

  test('refuses unknown keys, wrong types and non-objects, saying which', () => {
    const error = (value: unknown) => {
      const r = typeof value === 'string' ? parseKvEventsConfig(value) : parse(value);
      return r.ok ? null : r.error;
    };
    expect(error({ enable_kv_cache_events: true, topik: 'kv' })).toMatch(/unknown key "topik"/);
    expect(error({ publisher: 'kafka' })).toMatch(/publisher must be "zmq" or "null", got "kafka"/);
    expect(error({ hwm: 1.5 })).toMatch(/hwm must be a non-negative integer/);
    expect(error({ max_queue_size: 0 })).toMatch(/max_queue_size must be a positive integer/);
    expect(error({ replay_endpoint: 5558 })).toMatch(/replay_endpoint must be a string or null/);
    expect(error([])).toMatch(/JSON object/);
    expect(error('{')).toMatch(/is not JSON/);
  });

  test('data-parallel rank r adds r to the port (offset_endpoint_port); an ephemeral port stays ephemeral', () => {
    expect(offsetEndpointPort('tcp://*:5557', 0)).toEqual({ ok: true, value: 'tcp://*:5557' });
    expect(offsetEndpointPort('tcp://*:5557', 3)).toEqual({ ok: true, value: 'tcp://*:5560' });
    expect(offsetEndpointPort('tcp://[::]:5557', 1)).toEqual({ ok: true, value: 'tcp://[::]:5558' });
    expect(offsetEndpointPort('tcp://*:0', 2)).toEqual({ ok: true, value: 'tcp://*:0' });
    expect(offsetEndpointPort('tcp://*:*', 2)).toEqual({ ok: true, value: 'tcp://*:*' });
    expect(offsetEndpointPort('tcp://host:abc', 1).ok).toBe(false);
  });

  test('the PUB binds a wildcard address and connects to any other; ipc:// and inproc:// are refused', () => {
    const where = (endpoint: string, rank = 0) => publisherEndpoints(config({ endpoint, replayEndpoint: 'tcp://*:7000' }), rank);
    expect(where('tcp://*:5557', 1)).toEqual({ ok: true, value: { pub: { mode: 'bind', endpoint: 'tcp://*:5558' }, replay: 'tcp://*:7001' } });
    expect(where('tcp://[::]:5557')).toMatchObject({ ok: true, value: { pub: { mode: 'bind' } } });
    expect(where('tcp://collector:5557')).toMatchObject({ ok: true, value: { pub: { mode: 'connect', endpoint: 'tcp://collector:5557' } } });
    expect(where('ipc:///tmp/kv')).toMatchObject({ ok: false, error: expect.stringMatching(/tcp:\/\/ only/) });
    expect(where('inproc://kv')).toMatchObject({ ok: false });
  });
});
