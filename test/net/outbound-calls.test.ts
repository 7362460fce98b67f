// Every outbound HTTP call in src/ goes through src/net/: no other file calls the global fetch or loads an HTTP client module.
//
// src/net/fetch.ts forces `redirect: 'manual'` and src/net/probe.ts never follows one, so this is what makes
// "nothing the router fetches follows a redirect" hold for call sites written later. References are resolved
// with the TypeScript checker, so `app.fetch(…)` (Hono), `deps.fetch(…)` or a `fetch(req) {…}` handler of our
// own are told apart from the global. Bun.connect/Bun.listen (ZeroMQ's raw TCP) speak no HTTP and are allowed.
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dir, '../..');
const NET = join(root, 'src/net') + '/';
const HTTP_CLIENT_MODULES = new Set(['http', 'https', 'http2', 'undici', 'node-fetch'].flatMap((m) => [m, `node:${m}`]));

interface Finding {
  readonly file: string;
  readonly line: number;
  readonly what: string;
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(root, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  return ts.parseJsonConfigFileContent(config.config, ts.sys, root).options;
}

/** A program over `files`; `virtual` adds in-memory sources (for the detector's own test). */
function programOf(files: readonly string[], virtual: ReadonlyMap<string, string> = new Map()): ts.Program {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, onError, fresh) => {
    const text = virtual.get(name);
    return text === undefined ? getSourceFile(name, language, onError, fresh) : ts.createSourceFile(name, text, language, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => virtual.has(name) || fileExists(name);
  return ts.createProgram([...files, ...virtual.keys()], options, host);
}

/** The global fetch and Bun.fetch are the same function; both are looked for, through any alias. */
function outboundCalls(program: ts.Program, files: readonly string[]): Finding[] {
  const checker = program.getTypeChecker();
  const resolve = (s: ts.Symbol | undefined) => (s !== undefined && s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const globalFetch = checker.resolveName('fetch', undefined, ts.SymbolFlags.Value, false);
  const bun = checker.resolveName('Bun', undefined, ts.SymbolFlags.Value, false);
  const bunFetch = bun === undefined ? undefined : resolve(checker.getTypeOfSymbol(bun).getProperty('fetch'));
  if (globalFetch === undefined || bunFetch === undefined) throw new Error('bun-types no longer declares fetch and Bun.fetch: update this test');
  const forbidden = new Set([globalFetch, bunFetch]);

  const findings: Finding[] = [];
  for (const file of files) {
    const source = program.getSourceFile(file);
    if (source === undefined) throw new Error(`${file} is not in the program`);
    const report = (node: ts.Node, what: string) =>
      findings.push({ file: relative(root, file), line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, what });
    const moduleName = (node: ts.Node | undefined) => (node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined);
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node) && node.text === 'fetch') {
        const symbol = resolve(checker.getSymbolAtLocation(node));
        // A shorthand `{ fetch }` names the property; the value it takes is the variable of that name.
        const value = ts.isShorthandPropertyAssignment(node.parent) ? resolve(checker.getShorthandAssignmentValueSymbol(node.parent)) : undefined;
        if ((symbol !== undefined && forbidden.has(symbol)) || (value !== undefined && forbidden.has(value))) report(node, node.parent.getText(source).replace(/\s+/g, " ").slice(0, 60));
      }
      let specifier: string | undefined;
      if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) specifier = moduleName(node.moduleSpecifier);
      else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) specifier = moduleName(node.moduleReference.expression);
      else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require')))
        specifier = moduleName(node.arguments[0]);
      if (specifier !== undefined && HTTP_CLIENT_MODULES.has(specifier)) report(node, `loads ${specifier}`);
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return findings;
}

const sourceFiles = (under: string) => [...new Bun.Glob('**/*.ts').scanSync(join(root, under))].map((f) => join(root, under, f)).sort();

describe('outbound calls', () => {
  test('the detector finds the global fetch under every spelling, and not the fetch methods of our own objects', () => {
    const dir = join(root, 'src/__outbound_probe__');
    const flagged = {
      'call.ts': `export const a = () => fetch('http://x');`,
      'global-this.ts': `export const a = () => globalThis.fetch('http://x');`,
      'bun.ts': `export const a = () => Bun.fetch('http://x');`,
      'value.ts': `export const f: typeof fetch = fetch;`,
      'shorthand.ts': `export const deps = { fetch };`,
      'node-http.ts': `import http from 'node:http'; export const r = http.request;`,
      'https.ts': `import * as https from 'https'; export const g = https.get;`,
      'require.ts': `export const h = require('http');`,
      'dynamic.ts': `export const h = () => import('node:https');`,
      're-export.ts': `export { request } from 'node:http';`,
    };
    const allowed = {
      'own.ts': [
        `import { Hono } from 'hono';`,
        `const app = new Hono();`,
        `export const serve = { fetch: (r: Request) => app.fetch(r) };`,
        `export const handler = { fetch(r: Request) { return new Response(r.url); } };`,
        `export const viaDeps = (deps: { fetch: (u: string) => Promise<Response> }) => deps.fetch('http://x');`,
        `export function local(fetch: (u: string) => Promise<Response>) { return fetch('http://x'); }`,
        `export const text = 'fetch(';`,
      ].join('\n'),
    };
    const virtual = new Map(Object.entries({ ...flagged, ...allowed }).map(([name, text]) => [join(dir, name), text]));
    const findings = outboundCalls(programOf([], virtual), [...virtual.keys()]);
    expect([...new Set(findings.map((f) => f.file.split('/').at(-1)))].sort()).toEqual(Object.keys(flagged).sort());
  });

  test('no file of src/ outside src/net/ calls fetch or loads an HTTP client module', () => {
    const files = sourceFiles('src').filter((f) => !f.startsWith(NET));
    const findings = outboundCalls(programOf(files), files);
    expect(findings.map((f) => `${f.file}:${f.line} ${f.what}`)).toEqual([]);
  });

  test('src/net/ is a bottom layer: it imports node and Bun built-ins and its own files only', () => {
    const imports = sourceFiles('src/net').flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => `${relative(root, file)} → ${m[1]}`),
    );
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((i) => !/ → (node:[\w/]+|bun|\.\/[\w-]+\.ts)$/.test(i))).toEqual([]);
  });
});
