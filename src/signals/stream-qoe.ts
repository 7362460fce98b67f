// Streaming quality of experience as Andes defines it: QoE = 1 − S_delay / S_whole, computed incrementally
// from token arrivals in O(1) memory, so a stream tap can feed it chunk by chunk.
//
// The user's expected timeline (state-of-the-art.md §6): nothing before the expected TTFT, then tokens at
// the expected delivery speed (reading pace). Tokens are discrete, so the expectation is a staircase:
// token i (1-based) is expected at ttft + (i − 1) / speed, and a stream that delivers every token by its
// expected time never lags and scores exactly 1. The expectation stops at the response's N tokens.
// - S_whole is the area under the expected staircase until the expected end, ttft + N / speed.
// - S_delay is the area where the delivered count is below the expected one, until the last token
//   arrives. Tokens ahead of pace are buffered by the client: they earn nothing extra, but they cover a
//   later stall, because the user is still reading them.
// S_whole is fixed by the expectation, so any added delay can only grow S_delay: the score never rises
// when a token comes later. A response so late that S_delay exceeds S_whole scores 0.
//
// Incremental form: in token units u = speed · (t − ttft), the expected count is floor(u) + 1 for u ≥ 0 and
// G(u) = ∫₀ᵘ (floor(v) + 1) dv has a closed form, so each arrival adds the lag area since the previous one
// without knowing N. The cap at N is applied once at the end: while the stream was short of N tokens, the
// uncapped staircase exceeded the capped one by exactly (floor(u) + 1 − N) wherever u ≥ N.

export interface QoeExpectation {
  /** When the user expects the first token, in ms after the request started. */
  readonly ttftMs: number;
  /** The pace the user consumes tokens at (reading or listening speed), tokens per second. */
  readonly tokensPerSecond: number;
}

export interface StreamQoe {
  /** `count` whole tokens arrived `atMs` after the request started; arrivals earlier than the previous one count at its time. */
  tokens(atMs: number, count?: number): void;
  /** Tokens delivered so far. */
  readonly delivered: number;
  /** The stream's QoE in [0, 1]; undefined when no token arrived. Further arrivals are ignored after it. */
  finish(): number | undefined;
}

/** G(u) = ∫₀ᵘ (floor(v) + 1) dv for u ≥ 0: the area under the uncapped expected staircase, in token units. */
function staircaseArea(u: number): number {
  if (u <= 0) return 0;
  const n = Math.floor(u);
  return (n * (n + 1)) / 2 + (n + 1) * (u - n);
}

export function createStreamQoe(expect: QoeExpectation): StreamQoe {
  if (!(expect.tokensPerSecond > 0) || !Number.isFinite(expect.tokensPerSecond)) {
    throw new RangeError(`stream QoE: expected tokens per second must be a positive number, got ${expect.tokensPerSecond}`);
  }
  if (!(expect.ttftMs >= 0) || !Number.isFinite(expect.ttftMs)) {
    throw new RangeError(`stream QoE: expected TTFT must be a non-negative number of ms, got ${expect.ttftMs}`);
  }
  const perMs = expect.tokensPerSecond / 1000;
  const ttftMs = expect.ttftMs;
  let delivered = 0;
  let lastU = perMs * -ttftMs; // token units at t = 0
  // S_delay so far in token units (token·tokens); divided by the speed it would be token·ms, which cancels.
  let delay = 0;
  let done = false;

  return {
    tokens(atMs, count = 1) {
      // The staircase algebra below needs whole tokens.
      const whole = Math.floor(count);
      if (done || !(whole > 0)) return;
      const u = Math.max(lastU, perMs * (atMs - ttftMs));
      // Lag with `delivered` tokens in hand: the expected count exceeds it once u ≥ delivered.
      const from = Math.max(lastU, delivered);
      if (u > from) delay += staircaseArea(u) - staircaseArea(from) - delivered * (u - from);
      lastU = u;
      delivered += whole;
    },
    get delivered() {
      return delivered;
    },
    finish() {
      done = true;
      if (delivered === 0) return undefined;
      const n = delivered;
      const overCount = lastU > n ? staircaseArea(lastU) - staircaseArea(n) - n * (lastU - n) : 0;
      const whole = staircaseArea(n);
      return Math.min(1, Math.max(0, 1 - (delay - overCount) / whole));
    },
  };
}

/** The QoE of a whole timeline at once: `[atMs, tokens]` pairs in arrival order. */
export function streamQoe(expect: QoeExpectation, arrivals: Iterable<readonly [atMs: number, tokens: number]>): number | undefined {
  const q = createStreamQoe(expect);
  for (const [atMs, count] of arrivals) q.tokens(atMs, count);
  return q.finish();
}
