// The URL of a router started with `--port 0 --log-level warn`: it prints nothing on success, so its
// listening sockets are read from /proc and the one that answers /readiness is its HTTP port.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export async function readyRouterUrl(pid: number): Promise<string> {
  // Up to ~30 s: a router started from source on a busy machine takes a while to load.
  for (let i = 0; i < 1200; i++) {
    for (const port of listeningPorts(pid)) {
      const url = `http://127.0.0.1:${port}`;
      if (await fetch(`${url}/readiness`).then((r) => r.ok, () => false)) return url;
    }
    await Bun.sleep(25);
  }
  throw new Error(`router (pid ${pid}) did not become ready`);
}

function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return []; // not started yet, or gone
  }
  for (const fd of fds) {
    let link = '';
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {}
    const m = /socket:\[(\d+)\]/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.push(Number.parseInt(cols[1]!.split(':')[1]!, 16));
  }
  return ports;
}
