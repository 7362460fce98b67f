// The request-body bytes all clients together may make the router hold at once (--max-inflight-body-bytes).
//
// --max-payload-size bounds one body; it does not bound many. Without this budget a few clients sending
// large bodies at once take the router's memory with them (three 400 MB bodies cost 2.3 GB before it). A
// body reserves its Content-Length before a byte is read, so a refusal costs nothing; a chunked body, whose
// size nobody knows, reserves as it grows. The reservation is given back once the router holds the body no
// more (its answer is being relayed, or the request was refused), exactly once.

/** The budget when --max-inflight-body-bytes is not set: two bodies of the default --max-payload-size. */
export const DEFAULT_INFLIGHT_BODY_BYTES = 1024 * 1024 * 1024;

/** The budget in force: the flag, or the default raised to --max-payload-size so that one largest body always fits. */
export const inflightBodyBytes = (flag: number | undefined, maxPayloadSize: number): number => flag ?? Math.max(DEFAULT_INFLIGHT_BODY_BYTES, maxPayloadSize);

/** What one request holds. `release()` may be called any number of times; only the first gives bytes back. */
export interface BodyLease {
  /** Bytes held now. */
  readonly bytes: number;
  /** Takes `n` more bytes (a chunked body that grew); false, taking nothing, when they do not fit. */
  grow(n: number): boolean;
  release(): void;
}

export interface BodyBudget {
  readonly limit: number;
  /** Bytes held now by every lease together. */
  held(): number;
  /** A lease of `n` bytes, or undefined when they do not fit beside what is held. */
  reserve(n: number): BodyLease | undefined;
}

/** `onChange` sees the bytes held after every change (the gauge). */
export function createBodyBudget(limit: number, onChange: (held: number) => void = () => {}): BodyBudget {
  let held = 0;
  const fits = (n: number) => held + n <= limit;
  const take = (n: number) => {
    held += n;
    onChange(held);
  };
  return {
    limit,
    held: () => held,
    reserve(n) {
      if (!fits(n)) return undefined;
      take(n);
      let bytes = n;
      let released = false;
      return {
        get bytes() {
          return released ? 0 : bytes;
        },
        grow(more) {
          if (released || !fits(more)) return false;
          take(more);
          bytes += more;
          return true;
        },
        release() {
          if (released) return;
          released = true;
          take(-bytes);
        },
      };
    },
  };
}

/** A lease for no bytes at all (a GET), which nothing needs to give back. */
export const NO_LEASE: BodyLease = { bytes: 0, grow: () => false, release: () => {} };
