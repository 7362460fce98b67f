// Resource limits for one ZMTP connection: what a misbehaving or hostile peer may make the router hold.

export interface ZmtpLimits {
  /** Largest single frame accepted; checked before the body is allocated. */
  readonly maxFrameBytes: number;
  /** Largest multipart message (sum of its frames) accepted. */
  readonly maxMessageBytes: number;
  /** Most frames in one multipart message; bounds memory for floods of empty frames. */
  readonly maxMessageFrames: number;
  /** A peer that has not finished greeting + READY by then is dropped (slowloris guard). */
  readonly handshakeTimeoutMs: number;
  /** Bytes queued for a slow reader before `send` refuses more (libzmq's send high-water mark, in bytes). */
  readonly maxPendingWriteBytes: number;
}

export const DEFAULT_ZMTP_LIMITS: ZmtpLimits = Object.freeze({
  maxFrameBytes: 64 * 1024 * 1024,
  maxMessageBytes: 64 * 1024 * 1024,
  maxMessageFrames: 1024,
  handshakeTimeoutMs: 10_000,
  maxPendingWriteBytes: 16 * 1024 * 1024,
});

export function resolveLimits(overrides: Partial<ZmtpLimits> | undefined): ZmtpLimits {
  return { ...DEFAULT_ZMTP_LIMITS, ...overrides };
}
