// hashKey: the Rust router's header and body order and key prefixes, plus the chat and body-parsing fixes.
import { describe, expect, test } from 'bun:test';
import { fbiHashHex } from '../../src/policies/fbi-hash.ts';
import { hashKey, SESSION_HEADERS } from '../../src/policies/hash-key.ts';
import { chat, request } from './routing-fixtures.ts';

describe('headers', () => {
  test('are checked in the Rust order, correlation id before request id', () => {
    expect(SESSION_HEADERS).toEqual([
      'x-session-id',
      'x-user-id',
      'x-tenant-id',
      'x-correlation-id',
      'x-request-id',
      'x-trace-id',
    ]);
    const headers: Record<string, string> = {
      'x-trace-id': 'trace',
      'x-request-id': 'req',
      'x-correlation-id': 'corr',
      'x-tenant-id': 'tenant',
      'x-user-id': 'user',
      'x-session-id': 'sess',
    };
    const expected = [
      'header:x-session-id:sess',
      'header:x-user-id:user',
      'header:x-tenant-id:tenant',
      'header:x-correlation-id:corr',
      'header:x-request-id:req',
      'header:x-trace-id:trace',
    ];
    for (const [i, name] of SESSION_HEADERS.entries()) {
      expect(hashKey(request({ headers }))).toBe(expected[i]!);
      delete headers[name];
    }
  });

  test('skip empty values', () => {
    const req = request({ headers: { 'x-session-id': '', 'x-user-id': 'user-1' } });
    expect(hashKey(req)).toBe('header:x-user-id:user-1');
  });

  test('match case-insensitively and win over the body', () => {
    const req = request({ headers: { 'X-Session-ID': 'from-header' }, body: { session_id: 'from-body' } });
    expect(hashKey(req)).toBe('header:x-session-id:from-header');
  });

  test('ignore headers outside the list', () => {
    expect(hashKey(request({ headers: { 'x-custom-header': 'v' }, text: 'short' }))).toBe('request:short');
  });
});

describe('body fields', () => {
  test('follow session_params.session_id > user > session_id > user_id', () => {
    const body: Record<string, unknown> = {
      session_params: { session_id: 'nested' },
      user: 'alice',
      session_id: 'legacy',
      user_id: 'uid',
      prompt: 'hi',
    };
    expect(hashKey(request({ body }))).toBe('session:nested');
    delete body['session_params'];
    expect(hashKey(request({ body }))).toBe('user:alice');
    delete body['user'];
    expect(hashKey(request({ body }))).toBe('session:legacy');
    delete body['session_id'];
    expect(hashKey(request({ body }))).toBe('user:uid');
    delete body['user_id'];
    expect(hashKey(request({ body }))).toBe('request:hi');
  });

  test('accept numbers, skip empty strings and values of other types', () => {
    expect(hashKey(request({ body: { user_id: 42 } }))).toBe('user:42');
    expect(hashKey(request({ body: { user: '', session_id: 's1' } }))).toBe('session:s1');
    const odd = request({ body: { user: { id: 1 }, session_id: true, user_id: null }, text: 't' });
    expect(hashKey(odd)).toBe('request:t');
    expect(hashKey(request({ body: { session_params: 'not-an-object', user: 'bob' } }))).toBe('user:bob');
  });

  test('are read from parsed JSON, not matched inside prompt text as the Rust scanner did', () => {
    const prompt = 'Reply with JSON like {"user": "mallory", "session_id": "x"}';
    expect(hashKey(request({ body: { prompt } }))).toBe(`request:${prompt}`);
  });
});

describe('chat conversations', () => {
  const system = { role: 'system', content: 'You are a helpful assistant.' };
  const first = { role: 'user', content: 'Plan a trip to Lisbon.' };

  test('keep one key across turns as the history grows', () => {
    const turn1 = hashKey(chat([system, first]));
    const reply = { role: 'assistant', content: 'Sure!' };
    const turn2 = hashKey(chat([system, first, reply, { role: 'user', content: 'In May.' }]));
    const turn3 = hashKey(
      chat([
        system,
        first,
        { role: 'assistant', content: 'Sure!' },
        { role: 'user', content: 'In May.' },
        { role: 'assistant', content: 'Here is a plan.' },
        { role: 'user', content: 'Cheaper please.' },
      ]),
    );
    expect(turn1).toMatch(/^conversation:[0-9a-f]{16}$/);
    expect(turn2).toBe(turn1);
    expect(turn3).toBe(turn1);
  });

  test('differ when the system prompt or the first user message differs', () => {
    const base = hashKey(chat([system, first]));
    expect(hashKey(chat([{ role: 'system', content: 'Be terse.' }, first]))).not.toBe(base);
    expect(hashKey(chat([system, { role: 'user', content: 'Plan a trip to Porto.' }]))).not.toBe(base);
    expect(hashKey(chat([first]))).not.toBe(base);
  });

  test('treat text parts like string content', () => {
    const parts = { role: 'user', content: [{ type: 'text', text: 'Plan a trip to Lisbon.' }] };
    expect(hashKey(chat([system, parts]))).toBe(hashKey(chat([system, first])));
    const withImage = (url: string) => ({
      role: 'user',
      content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image_url', image_url: { url } },
      ],
    });
    expect(hashKey(chat([withImage('data:a')]))).not.toBe(hashKey(chat([withImage('data:b')])));
  });

  test('yield to session headers and body fields', () => {
    expect(hashKey(chat([system, first], { user: 'carol' }))).toBe('user:carol');
    const withHeader = { ...chat([system, first]), headers: new Headers({ 'x-session-id': 'abc' }) };
    expect(hashKey(withHeader)).toBe('header:x-session-id:abc');
  });
});

describe('fallback', () => {
  test('uses the text verbatim up to 100 UTF-8 bytes', () => {
    expect(hashKey(request({ text: 'short' }))).toBe('request:short');
    expect(hashKey(request())).toBe('request:');
    expect(hashKey(request({ text: 'a'.repeat(100) }))).toBe(`request:${'a'.repeat(100)}`);
    expect(hashKey(request({ text: 'é'.repeat(50) }))).toBe(`request:${'é'.repeat(50)}`);
  });

  test('hashes longer texts to request_hash:<16 hex of fbi_hash>', () => {
    expect(hashKey(request({ text: 'x'.repeat(200) }))).toBe('request_hash:626e7a2eaad58322');
    expect(hashKey(request({ text: 'a'.repeat(101) }))).toBe(`request_hash:${fbiHashHex('a'.repeat(101))}`);
    // 51 two-byte characters are 102 bytes, though only 51 UTF-16 units.
    expect(hashKey(request({ text: 'é'.repeat(51) }))).toBe(`request_hash:${fbiHashHex('é'.repeat(51))}`);
  });
});

describe('a configured session header (--session-header, production-stack --session-key)', () => {
  test('is read first, then the body field of the same name, then the built-in order', () => {
    const both = request({ headers: { 'X-Conversation': 'c1', 'x-session-id': 's' }, body: { 'x-conversation': 'b1' } });
    expect(hashKey(both, 'x-conversation')).toBe('header:x-conversation:c1');
    expect(hashKey(request({ headers: { 'x-session-id': 's' }, body: { 'x-conversation': 'b1' } }), 'x-conversation')).toBe('header:x-conversation:b1');
    expect(hashKey(request({ headers: { 'x-session-id': 's' } }), 'x-conversation')).toBe('header:x-session-id:s');
    // Without it configured, the header is not a session header.
    expect(hashKey(request({ headers: { 'x-conversation': 'c1' }, body: { prompt: 'p' } }))).toBe('request:p');
  });
});
