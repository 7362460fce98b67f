import { describe, expect, test } from 'bun:test';
import { parseEndpointUrl } from '../../src/core/endpoint-url.ts';

describe('parseEndpointUrl', () => {
  test('accepts http and https base URLs, normalised', () => {
    expect(parseEndpointUrl('http://10.0.0.5:8000')).toEqual({ ok: true, url: 'http://10.0.0.5:8000' });
    expect(parseEndpointUrl('HTTP://Engine-1.Example:8000/')).toEqual({ ok: true, url: 'http://engine-1.example:8000' });
    expect(parseEndpointUrl('https://engine.example:443/')).toEqual({ ok: true, url: 'https://engine.example' });
    expect(parseEndpointUrl('http://[::1]:8000')).toEqual({ ok: true, url: 'http://[::1]:8000' });
    expect(parseEndpointUrl('https://gateway.example/models/llama//')).toEqual({ ok: true, url: 'https://gateway.example/models/llama' });
  });

  test('accepts a gRPC engine as grpc://HOST:PORT, normalised', () => {
    expect(parseEndpointUrl('grpc://10.0.0.5:9000')).toEqual({ ok: true, url: 'grpc://10.0.0.5:9000' });
    expect(parseEndpointUrl('GRPC://Engine-1:50051/')).toEqual({ ok: true, url: 'grpc://engine-1:50051' });
  });

  test.each([
    ['', 'empty'],
    ['10.0.0.5:8000', 'not an absolute URL'],
    ['localhost:8000', 'scheme must be http, https or grpc'],
    ['file:///etc/passwd', 'scheme must be http, https or grpc'],
    ['ftp://example.com', 'scheme must be http, https or grpc'],
    ['grpc://10.0.0.5', 'grpc://HOST:PORT'],
    ['grpc://10.0.0.5:9000/v1', 'grpc://HOST:PORT'],
    ['grpc://u:p@10.0.0.5:9000', 'grpc://HOST:PORT'],
    ['javascript:alert(1)', 'scheme must be http, https or grpc'],
    ['http://user:secret@10.0.0.5:8000', 'credentials'],
    ['http://10.0.0.5:8000/?debug=1', 'query string'],
    ['http://10.0.0.5:8000?', 'query string'],
    ['http://10.0.0.5:8000#x', 'fragment'],
    [' http://10.0.0.5:8000', 'whitespace'],
    ['http://10.0.0.5:8000\n', 'whitespace'],
    ['http://', 'not an absolute URL'],
  ])('refuses %j (%s)', (raw, reason) => {
    const parsed = parseEndpointUrl(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toContain(reason);
  });
});
