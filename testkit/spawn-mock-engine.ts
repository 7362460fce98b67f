// Starts the mock vLLM engine (mock-engine-main.ts) in its own process on a free port and waits for its URL.
import { spawnChild, type Child } from './spawn-child.ts';

/** A mock vLLM engine in its own process; `args` are mock-engine-main.ts flags. */
export async function spawnMockEngine(args: string[] = []): Promise<Child & { url: string }> {
  const child = spawnChild(['bun', new URL('./mock-engine-main.ts', import.meta.url).pathname, '--port', '0', '--no-record', ...args]);
  const [, url] = await child.waitFor(/LISTENING (\S+)/);
  return Object.assign(child, { url: url! });
}
