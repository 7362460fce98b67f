// Reads kubeconfig files (kubectl's format) into credentials: the context's cluster, CA, token or client cert.
import { dirname, isAbsolute, resolve } from 'node:path';
import type { CredentialsResult, KubeAuth, KubeTls } from './kube-auth.ts';

export interface KubeconfigFile {
  readonly path: string;
  readonly text: string;
}

export interface KubeconfigOptions {
  /** Use this context instead of `current-context`. */
  readonly context?: string;
  /** Reads a file a kubeconfig names (CA, client cert, key); injectable for tests. */
  readonly read?: (path: string) => Promise<string>;
}

type Fields = Readonly<Record<string, unknown>>;

/** A named entry with the directory of the file that defined it, which its relative paths are resolved against. */
interface Entry {
  readonly body: Fields;
  readonly dir: string;
}

interface Merged {
  readonly clusters: Map<string, Entry>;
  readonly users: Map<string, Entry>;
  readonly contexts: Map<string, Entry>;
  currentContext: string | undefined;
}

class KubeconfigError extends Error {}

const isObject = (v: unknown): v is Fields => v !== null && typeof v === 'object' && !Array.isArray(v);

function text(fields: Fields, key: string): string | undefined {
  const v = fields[key];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Adds each file's named entries; as in kubectl's merge, the first file to define a name wins. */
function mergeInto(merged: Merged, file: KubeconfigFile): void {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(file.text);
  } catch (e) {
    throw new KubeconfigError(`${file.path} is not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return;
  if (!isObject(doc)) throw new KubeconfigError(`${file.path} is not a kubeconfig (expected a mapping at the top)`);
  const dir = dirname(file.path);
  const lists = [
    ['clusters', 'cluster', merged.clusters],
    ['users', 'user', merged.users],
    ['contexts', 'context', merged.contexts],
  ] as const;
  for (const [listKey, bodyKey, into] of lists) {
    const list = doc[listKey];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new KubeconfigError(`${file.path}: ${listKey} must be a list`);
    for (const item of list) {
      if (!isObject(item)) continue;
      const name = text(item, 'name');
      const body = item[bodyKey];
      if (name === undefined || into.has(name)) continue;
      into.set(name, { body: isObject(body) ? body : {}, dir });
    }
  }
  merged.currentContext ??= text(doc, 'current-context');
}

/** Inline base64 `<key>-data` wins over the file `<key>`, as in kubectl. */
async function pem(entry: Entry, key: string, read: (path: string) => Promise<string>): Promise<string | undefined> {
  const data = text(entry.body, `${key}-data`);
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  const path = text(entry.body, key);
  if (path === undefined) return undefined;
  const full = isAbsolute(path) ? path : resolve(entry.dir, path);
  try {
    return await read(full);
  } catch (e) {
    throw new KubeconfigError(`cannot read ${key} ${full}: ${(e as Error).message}`);
  }
}

function userAuth(name: string, user: Entry | undefined): KubeAuth {
  if (user === undefined) return { kind: 'none' };
  const token = text(user.body, 'token');
  if (token !== undefined) return { kind: 'token', token };
  const tokenFile = text(user.body, 'tokenFile');
  if (tokenFile !== undefined) return { kind: 'token_file', path: isAbsolute(tokenFile) ? tokenFile : resolve(user.dir, tokenFile) };
  const username = text(user.body, 'username');
  const password = text(user.body, 'password');
  if (username !== undefined && password !== undefined) return { kind: 'basic', username, password };
  const hasCert = text(user.body, 'client-certificate') ?? text(user.body, 'client-certificate-data');
  // Cloud kubeconfigs (EKS, GKE, AKS) run a helper program for a token; running programs named in a config file
  // is not something a router should do, so ask for a token or a certificate instead.
  if (hasCert === undefined && (user.body['exec'] !== undefined || user.body['auth-provider'] !== undefined))
    throw new KubeconfigError(`user ${name} authenticates with an exec or auth-provider plugin, which is not supported; use a token or a client certificate`);
  return { kind: 'none' };
}

/** Credentials for one context of the merged files. Errors name the file or entry at fault. */
export async function kubeconfigCredentials(files: readonly KubeconfigFile[], options: KubeconfigOptions = {}): Promise<CredentialsResult> {
  const read = options.read ?? ((path: string) => Bun.file(path).text());
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined };
  const where = files.map((f) => f.path).join(', ');
  try {
    for (const file of files) mergeInto(merged, file);
    const contextName = options.context ?? merged.currentContext;
    if (contextName === undefined) throw new KubeconfigError(`${where} sets no current-context`);
    const context = merged.contexts.get(contextName);
    if (context === undefined) throw new KubeconfigError(`context ${contextName} is not defined in ${where}`);
    const clusterName = text(context.body, 'cluster');
    const cluster = clusterName === undefined ? undefined : merged.clusters.get(clusterName);
    if (cluster === undefined) throw new KubeconfigError(`context ${contextName} names cluster ${clusterName ?? '(none)'}, which is not defined`);
    const server = text(cluster.body, 'server');
    if (server === undefined) throw new KubeconfigError(`cluster ${clusterName} has no server`);
    if (!/^https?:\/\//.test(server)) throw new KubeconfigError(`cluster ${clusterName} server ${server} is not an http(s) URL`);
    const userName = text(context.body, 'user');
    const user = userName === undefined ? undefined : merged.users.get(userName);
    if (userName !== undefined && user === undefined) throw new KubeconfigError(`context ${contextName} names user ${userName}, which is not defined`);

    const ca = await pem(cluster, 'certificate-authority', read);
    const cert = user === undefined ? undefined : await pem(user, 'client-certificate', read);
    const key = user === undefined ? undefined : await pem(user, 'client-key', read);
    if ((cert === undefined) !== (key === undefined))
      throw new KubeconfigError(`user ${userName} has a client certificate without a key, or a key without a certificate`);
    const serverName = text(cluster.body, 'tls-server-name');
    const tls: KubeTls = {
      rejectUnauthorized: cluster.body['insecure-skip-tls-verify'] !== true,
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined || key === undefined ? {} : { cert, key }),
      ...(serverName === undefined ? {} : { serverName }),
    };
    return {
      ok: true,
      credentials: {
        server: server.replace(/\/+$/, ''),
        auth: userAuth(userName ?? '', user),
        tls,
        namespace: text(context.body, 'namespace'),
        source: `kubeconfig ${where} (context ${contextName})`,
      },
    };
  } catch (e) {
    if (e instanceof KubeconfigError) return { ok: false, error: e.message };
    throw e;
  }
}
