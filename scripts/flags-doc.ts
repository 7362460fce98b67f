// Regenerates the flag reference in README.md from the config schema (`bun run docs:flags`).
import { flagReferenceMarkdown } from '../src/config/help.ts';

export const START = '<!-- flags:start -->';
export const END = '<!-- flags:end -->';

export function withFlagReference(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a === -1 || b === -1) throw new Error('README.md lacks the flag reference markers');
  return `${readme.slice(0, a + START.length)}\n${flagReferenceMarkdown()}\n${readme.slice(b)}`;
}

if (import.meta.main) {
  const path = new URL('../README.md', import.meta.url).pathname;
  await Bun.write(path, withFlagReference(await Bun.file(path).text()));
  console.log('README.md flag reference updated');
}
