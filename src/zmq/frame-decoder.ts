// Incremental ZMTP reader: turns arbitrarily chunked TCP bytes into a greeting, then frames, rejecting garbage early.
import { checkGreetingPrefix, GREETING_SIZE, type Greeting, parseGreeting } from './greeting.ts';
import { FLAG_COMMAND, FLAG_LONG, FLAG_MORE, FLAG_RESERVED } from './frames.ts';

export type DecodedEvent =
  | { readonly kind: 'greeting'; readonly greeting: Greeting }
  | { readonly kind: 'frame'; readonly command: boolean; readonly more: boolean; readonly body: Uint8Array };

export type DecodeResult = { ok: true; events: DecodedEvent[] } | { ok: false; error: string; events: DecodedEvent[] };

export interface FrameDecoder {
  /** Consumes one TCP chunk. After an error the decoder is dead and every later call fails the same way. */
  push(chunk: Uint8Array): DecodeResult;
}

/**
 * `maxFrameBytes` is checked against the announced size before anything is allocated, so a peer cannot make
 * the router reserve memory it never sends.
 */
export function createFrameDecoder(maxFrameBytes: number): FrameDecoder {
  const greeting = new Uint8Array(GREETING_SIZE);
  let greetingFilled = 0;
  let phase: 'greeting' | 'flags' | 'size' | 'body' = 'greeting';
  let flags = 0;
  const sizeBytes = new Uint8Array(8);
  let sizeNeeded = 0;
  let sizeFilled = 0;
  // Bodies are copied out of the chunk: Bun may reuse the buffer it hands to `data`, and frames outlive the call.
  let body = new Uint8Array(0);
  let bodyFilled = 0;
  let failure: string | undefined;

  function frameEvent(): DecodedEvent {
    const event: DecodedEvent = {
      kind: 'frame',
      command: (flags & FLAG_COMMAND) !== 0,
      more: (flags & FLAG_MORE) !== 0,
      body,
    };
    phase = 'flags';
    body = new Uint8Array(0);
    bodyFilled = 0;
    return event;
  }

  function startBody(size: number): string | undefined {
    if (size > maxFrameBytes) return `frame of ${size} bytes exceeds the ${maxFrameBytes}-byte limit`;
    if ((flags & FLAG_COMMAND) !== 0 && size === 0) return 'empty command frame';
    body = new Uint8Array(size);
    bodyFilled = 0;
    phase = 'body';
    return undefined;
  }

  function step(chunk: Uint8Array, at: number, events: DecodedEvent[]): { at: number; error?: string } {
    switch (phase) {
      case 'greeting': {
        const take = Math.min(GREETING_SIZE - greetingFilled, chunk.byteLength - at);
        greeting.set(chunk.subarray(at, at + take), greetingFilled);
        const error = checkGreetingPrefix(greeting, greetingFilled, greetingFilled + take);
        greetingFilled += take;
        if (error) return { at, error };
        if (greetingFilled === GREETING_SIZE) {
          const parsed = parseGreeting(greeting);
          if (!parsed.ok) return { at, error: parsed.error };
          events.push({ kind: 'greeting', greeting: parsed.greeting });
          phase = 'flags';
        }
        return { at: at + take };
      }
      case 'flags': {
        flags = chunk[at] ?? 0;
        if ((flags & FLAG_RESERVED) !== 0) return { at, error: 'frame flags use reserved bits' };
        if ((flags & FLAG_COMMAND) !== 0 && (flags & FLAG_MORE) !== 0) return { at, error: 'command frame with MORE' };
        sizeNeeded = (flags & FLAG_LONG) !== 0 ? 8 : 1;
        sizeFilled = 0;
        phase = 'size';
        return { at: at + 1 };
      }
      case 'size': {
        const take = Math.min(sizeNeeded - sizeFilled, chunk.byteLength - at);
        sizeBytes.set(chunk.subarray(at, at + take), sizeFilled);
        sizeFilled += take;
        if (sizeFilled < sizeNeeded) return { at: at + take };
        let size: number;
        if (sizeNeeded === 1) {
          size = sizeBytes[0] ?? 0;
        } else {
          const view = new DataView(sizeBytes.buffer);
          // Any size past 2^53 is far beyond every sane limit; the high word alone tells us so.
          size = view.getUint32(0) >= 0x200000 ? Number.MAX_SAFE_INTEGER : view.getUint32(0) * 2 ** 32 + view.getUint32(4);
        }
        const error = startBody(size);
        if (error) return { at, error };
        if (size === 0) events.push(frameEvent());
        return { at: at + take };
      }
      case 'body': {
        const take = Math.min(body.byteLength - bodyFilled, chunk.byteLength - at);
        body.set(chunk.subarray(at, at + take), bodyFilled);
        bodyFilled += take;
        if (bodyFilled === body.byteLength) events.push(frameEvent());
        return { at: at + take };
      }
    }
  }

  return {
    push(chunk) {
      const events: DecodedEvent[] = [];
      if (failure !== undefined) return { ok: false, error: failure, events };
      let at = 0;
      while (at < chunk.byteLength) {
        const result = step(chunk, at, events);
        if (result.error !== undefined) {
          failure = result.error;
          return { ok: false, error: failure, events };
        }
        at = result.at;
      }
      return { ok: true, events };
    },
  };
}
