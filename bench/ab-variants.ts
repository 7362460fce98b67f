// The A/B switch of `bun run bench --ab …`: router builds with one piece of the hot path replaced by a no-op,
// so the benchmark shows what each piece the router keeps costs. The replacement happens at build time (a
// Bun.build plugin swaps one module's source); the product has no such switch.
import type { BunPlugin } from 'bun';
import { existsSync } from 'node:fs';

export interface AbVariant {
  readonly name: string;
  /** The row's label: what the build leaves out. */
  readonly label: string;
  /** Module path under the repository root → its replacement source. */
  readonly replace: Readonly<Record<string, string>>;
}

export const AB_VARIANTS: readonly AbVariant[] = [];

const root = new URL('..', import.meta.url).pathname;

/** Compiles the router as build.ts does, with the variant's modules swapped; returns the binary's path. */
export async function buildVariant(variant: AbVariant, outfile: string): Promise<string> {
  const swaps = new Map(Object.entries(variant.replace).map(([path, source]) => [root + path, source]));
  for (const path of swaps.keys()) if (!existsSync(path)) throw new Error(`--ab ${variant.name}: ${path} does not exist`);
  const plugin: BunPlugin = {
    name: `ab-${variant.name}`,
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (file) => {
        const source = swaps.get(file.path);
        return { contents: source ?? (await Bun.file(file.path).text()), loader: 'ts' };
      });
    },
  };
  const result = await Bun.build({
    entrypoints: [root + 'src/main.ts', root + 'src/pool/tokenize.worker.ts'],
    compile: { outfile, autoloadBunfig: false },
    minify: true,
    target: 'bun',
    plugins: [plugin],
  });
  if (!result.success) throw new Error(`--ab ${variant.name}: build failed: ${result.logs.join('\n')}`);
  return outfile;
}
