// Asks the --api-key-validation-urls whether an inbound bearer token is valid, remembering their verdicts.
//
// The protocol is the Rust router's: GET each URL in order with `Authorization: Bearer <token>`; the first
// 2xx accepts (Rust: exactly 200; a 204 from a validator means the same). Where this one differs:
// - A validator that cannot decide (unreachable, timed out, 5xx, 408, 429) is not a "no": when no URL
//   accepted and one of them could not decide, the verdict is `unreachable` and is not remembered. Rust
//   turned a network blip into "invalid key" and cached it forever, locking valid users out until restart.
// - Redirects are not followed (a 3xx is a "no", as a validator redirecting to a login page means), so the
//   token is never sent anywhere but the configured URLs.
// - Verdicts expire (see api-key-cache.ts), and concurrent checks of one token share a single call.
// - Tokens are kept only as SHA-256 digests, so the cache holds no usable secret.
import { createHash } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import { outboundFetch } from '../net/fetch.ts';
import { isRedirect } from '../net/redirect.ts';
import type { VerdictCache } from './api-key-cache.ts';

export type KeyVerdict = 'valid' | 'invalid' | 'unreachable';

export interface ApiKeyValidatorOptions {
  readonly urls: readonly string[];
  /** Per validation call. */
  readonly timeoutMs: number;
  readonly cache: VerdictCache;
  readonly log: Logger;
}

export interface ApiKeyValidator {
  check(token: string): Promise<KeyVerdict>;
}

/** A key that identifies a token without keeping it. */
export const tokenDigest = (token: string): string => createHash('sha256').update(token).digest('base64');

type UrlAnswer = 'accepted' | 'refused' | 'undecided';

function answerOf(status: number): UrlAnswer {
  if (status >= 200 && status < 300) return 'accepted';
  if (status >= 500 || status === 408 || status === 429) return 'undecided';
  return 'refused';
}

export function createApiKeyValidator(options: ApiKeyValidatorOptions): ApiKeyValidator {
  const inProgress = new Map<string, Promise<KeyVerdict>>();

  const ask = async (url: string, token: string): Promise<UrlAnswer> => {
    try {
      const res = await outboundFetch(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      const answer = answerOf(res.status);
      if (answer === 'undecided') options.log.warn('api key validator could not decide', { url, status: res.status });
      // Still a "no", but one that would refuse every key: an operator needs to see it (http:// for https://, say).
      if (isRedirect(res.status))
        options.log.warn('api key validator answered a redirect (redirects are not followed): every key is refused', { url, status: res.status, location: res.headers.get('location') });
      return answer;
    } catch (e) {
      options.log.warn('api key validator unreachable', { url, message: (e as Error).message });
      return 'undecided';
    }
  };

  const validate = async (token: string): Promise<KeyVerdict> => {
    let undecided = false;
    for (const url of options.urls) {
      const answer = await ask(url, token);
      if (answer === 'accepted') return 'valid';
      if (answer === 'undecided') undecided = true;
    }
    return undecided ? 'unreachable' : 'invalid';
  };

  return {
    check(token) {
      const key = tokenDigest(token);
      const known = options.cache.get(key);
      if (known !== undefined) return Promise.resolve(known ? 'valid' : 'invalid');
      const running = inProgress.get(key);
      if (running !== undefined) return running;
      const verdict = validate(token).then((v) => {
        if (v !== 'unreachable') options.cache.set(key, v === 'valid');
        return v;
      });
      const done = verdict.finally(() => inProgress.delete(key));
      inProgress.set(key, done);
      return done;
    },
  };
}
