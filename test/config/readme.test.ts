import { expect, test } from 'bun:test';
import { withFlagReference } from '../../scripts/flags-doc.ts';

test('the README flag reference is the one the schema generates (run `bun run docs:flags`)', async () => {
  const readme = await Bun.file(new URL('../../README.md', import.meta.url)).text();
  expect(readme).toBe(withFlagReference(readme));
});
