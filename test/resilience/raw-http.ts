// HTTP/1.1 over a bare TCP socket: sends exactly the bytes given (fetch would normalise them) and reads the answer.

export type RawAnswer =
  /** A status line arrived; `body` is cut at Content-Length when there is one. */
  | { readonly kind: 'response'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: Buffer }
  /** The server closed the connection without sending a byte. */
  | { readonly kind: 'closed' }
  /** The connection was refused. */
  | { readonly kind: 'refused' };

export interface RawOptions {
  /** Send one byte at a time, this many milliseconds apart (a slow client); 0 or unset sends at once. */
  readonly trickleMs?: number;
  /** When trickling, send this many bytes at once first (the headers, say). */
  readonly trickleAfter?: number;
  /** Called once the last byte was handed to the socket. */
  readonly onSent?: () => void;
}

/**
 * Opens a connection, writes `request`, and resolves when the server has answered (a complete response by
 * Content-Length, or the server closed the connection). No client-side timeout: the caller waits for the
 * server, so a server that never answers shows as a test that never ends.
 */
export function rawExchange(address: { hostname: string; port: number }, request: string | Uint8Array, options: RawOptions = {}): Promise<RawAnswer> {
  const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : Buffer.from(request);
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let settled = false;
    let pending = Buffer.alloc(0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (answer: RawAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const answer = (): RawAnswer => (received.length === 0 ? { kind: 'closed' } : parseResponse(received));
    const flush = (socket: Bun.Socket<undefined>) => {
      while (pending.length > 0) {
        const n = socket.write(pending);
        if (n <= 0) return;
        pending = pending.subarray(n);
      }
    };
    Bun.connect({
      hostname: address.hostname,
      port: address.port,
      socket: {
        open(socket) {
          const trickle = options.trickleMs ?? 0;
          if (trickle <= 0) {
            pending = bytes;
            flush(socket);
            options.onSent?.();
            return;
          }
          let i = Math.min(options.trickleAfter ?? 0, bytes.length);
          pending = bytes.subarray(0, i);
          const next = () => {
            if (settled) return;
            if (i >= bytes.length) return options.onSent?.();
            pending = Buffer.concat([pending, bytes.subarray(i, i + 1)]);
            i++;
            flush(socket);
            timer = setTimeout(next, trickle);
          };
          next();
        },
        drain(socket) {
          flush(socket);
        },
        data(socket, chunk) {
          received = Buffer.concat([received, chunk]);
          const parsed = parseResponse(received);
          if (parsed.kind === 'response' && parsed.complete) {
            socket.end();
            finish(parsed);
          }
        },
        close() {
          finish(answer());
        },
        error() {
          finish(answer());
        },
      },
    }).catch(() => finish({ kind: 'refused' }));
  });
}

function parseResponse(bytes: Buffer): RawAnswer & { complete?: boolean } {
  const end = bytes.indexOf('\r\n\r\n');
  const head = (end < 0 ? bytes : bytes.subarray(0, end)).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = end < 0 ? Buffer.alloc(0) : bytes.subarray(end + 4);
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const complete = end >= 0 && length !== undefined && rest.length >= length;
  return { kind: 'response', status, headers, body: length === undefined ? rest : rest.subarray(0, length), complete };
}

/** A request with a Content-Length that matches `body`, closing the connection after the answer. */
export function rawPost(path: string, body: string | Uint8Array, extraHeaders = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const head = `POST ${path} HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n${extraHeaders}Connection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}
