// The python3 that has pyzmq and msgpack (Debian's python3-zmq and python3-msgpack, on the system libzmq): the real
// libzmq peer of the ZeroMQ tests (test/zmq/) and of the simulated engine's KV-event tests (bench/sim/test/).

/** Its path; throws, saying what to install, when no interpreter has both modules. */
export function pythonWithZmq(): string {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      if (Bun.spawnSync([candidate, '-c', 'import zmq, msgpack']).exitCode === 0) return candidate;
    } catch {
      // Not installed under that name; try the next.
    }
  }
  throw new Error('no python3 with pyzmq and msgpack: apt-get install -y python3-zmq python3-msgpack');
}
