// An incremental scanner for one tool-call JSON object, `{"name": "…", "arguments": {…}}`, fed text as it
// streams: it reports the name once its string is complete and the arguments' source text as it arrives.
//
// vLLM's parsers (vllm/entrypoints/openai/tool_parsers/) re-parse the whole call with partial_json_parser on
// every delta and diff `json.dumps` of the arguments; this scans each character once, and the arguments
// streamed are the model's own JSON text for the value (vLLM's re-serialized text differs only in spacing
// and number spelling, which the client's JSON.parse does not see). `parameters` is taken for `arguments`,
// as Llama 3 writes it.

export interface CallSink {
  name(name: string): void;
  /** A fragment of the arguments value's JSON text. */
  arguments(fragment: string): void;
}

export type ScanState = 'scanning' | 'done' | 'not-a-call' | 'malformed';

export interface CallScanner {
  /** Feeds text; returns how much of it belongs to the object (all of it while the object is still open). */
  feed(text: string): number;
  state(): ScanState;
  /** Whether an arguments value was seen. */
  sawArguments(): boolean;
}

const CALL_KEYS = new Set(['name', 'arguments', 'parameters']);

type Phase = 'open' | 'key' | 'key-string' | 'colon' | 'value' | 'string' | 'nested' | 'scalar' | 'after-value';

export interface ScanOptions {
  /** End at the end of the arguments value (Mistral's `name[ARGS]{…}`, scanned after a made-up head). */
  readonly endAfterArguments?: boolean | undefined;
}

/** Scans one object; `not-a-call` when its first key is none of name/arguments/parameters. */
export function createCallScanner(sink: CallSink, opts: ScanOptions = {}): CallScanner {
  let phase: Phase = 'open';
  let state: ScanState = 'scanning';
  let key = '';
  let keyCount = 0;
  let target: 'name' | 'arguments' | 'skip' = 'skip';
  let escaped = false;
  let inString = false;
  let depth = 0;
  let nameText = '';
  let sawArguments = false;

  const fail = (why: ScanState): ScanState => (state = why);

  /** The value ended: deliver the name. */
  const endValue = () => {
    if (target === 'name') {
      let name: unknown;
      try {
        name = JSON.parse(nameText);
      } catch {
        name = undefined;
      }
      if (typeof name === 'string' && name.length > 0) sink.name(name);
      else fail('malformed');
    } else if (target === 'arguments' && opts.endAfterArguments === true && state === 'scanning') {
      state = 'done';
    }
    phase = 'after-value';
  };

  const feed = (text: string): number => {
    let i = 0;
    // Where the arguments text of this chunk starts: at 0 when the value began in an earlier chunk.
    let argsFrom = target === 'arguments' && (phase === 'string' || phase === 'nested' || phase === 'scalar') ? 0 : -1;
    const flushArgs = (to: number) => {
      if (argsFrom !== -1 && to > argsFrom) sink.arguments(text.slice(argsFrom, to));
      argsFrom = -1;
    };
    for (; i < text.length && state === 'scanning'; i++) {
      const c = text[i]!;
      switch (phase) {
        case 'open':
          if (c === '{') phase = 'key';
          else if (!isSpace(c)) fail('malformed');
          break;
        case 'key':
          if (c === '"') {
            phase = 'key-string';
            key = '';
          } else if (c === '}' && keyCount === 0) {
            fail('not-a-call');
          } else if (!isSpace(c)) fail('malformed');
          break;
        case 'key-string':
          if (escaped) escaped = false;
          else if (c === '\\') escaped = true;
          else if (c === '"') {
            keyCount++;
            let name = key;
            try {
              name = JSON.parse(`"${key}"`) as string;
            } catch {
              fail('malformed');
              break;
            }
            if (keyCount === 1 && !CALL_KEYS.has(name)) fail('not-a-call');
            target = name === 'name' ? 'name' : (name === 'arguments' || name === 'parameters') && !sawArguments ? 'arguments' : 'skip';
            phase = 'colon';
            break;
          }
          key += c;
          break;
        case 'colon':
          if (c === ':') phase = 'value';
          else if (!isSpace(c)) fail('malformed');
          break;
        case 'value':
          if (isSpace(c)) break;
          if (target === 'arguments') {
            sawArguments = true;
            argsFrom = i;
          }
          if (target === 'name') nameText = '';
          if (c === '"') {
            phase = 'string';
            escaped = false;
          } else if (c === '{' || c === '[') {
            phase = 'nested';
            depth = 1;
            inString = false;
            escaped = false;
          } else phase = 'scalar';
          if (target === 'name') nameText += c;
          break;
        case 'string':
          if (target === 'name') nameText += c;
          if (escaped) escaped = false;
          else if (c === '\\') escaped = true;
          else if (c === '"') {
            if (target === 'arguments') flushArgs(i + 1);
            endValue();
          }
          break;
        case 'nested':
          if (target === 'name') nameText += c;
          if (inString) {
            if (escaped) escaped = false;
            else if (c === '\\') escaped = true;
            else if (c === '"') inString = false;
          } else if (c === '"') inString = true;
          else if (c === '{' || c === '[') depth++;
          else if (c === '}' || c === ']') {
            if (--depth === 0) {
              if (target === 'arguments') flushArgs(i + 1);
              endValue();
            }
          }
          break;
        case 'scalar':
          if (c === ',' || c === '}' || isSpace(c)) {
            if (target === 'arguments') flushArgs(i);
            endValue();
            if (state !== 'scanning') return i; // ended: the terminator is not the value's
            i--; // the terminator is read again after the value
          } else if (target === 'name') nameText += c;
          break;
        case 'after-value':
          if (c === ',') phase = 'key';
          else if (c === '}') state = 'done';
          else if (!isSpace(c)) fail('malformed');
          break;
      }
    }
    if (state === 'scanning' && target === 'arguments' && (phase === 'string' || phase === 'nested' || phase === 'scalar')) {
      flushArgs(text.length);
    }
    return i;
  };

  return { feed, state: () => state, sawArguments: () => sawArguments };
}

export function isSpace(c: string): boolean {
  return c === ' ' || c === '\n' || c === '\r' || c === '\t';
}
