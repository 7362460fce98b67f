// A TCP port on 127.0.0.1 that nothing listens on: bound, then released.

/** For a process that needs its port on the command line, or for a dial that must be refused. */
export function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}
