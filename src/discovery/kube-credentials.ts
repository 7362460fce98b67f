// Where the Kubernetes API is and how to authenticate to it: a kubeconfig, or the pod's service account.
import { delimiter, join } from 'node:path';
import type { CredentialsResult } from './kube-auth.ts';
import { kubeconfigCredentials } from './kubeconfig.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface CredentialOptions {
  /** The process environment (KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT, HOME); passed in, never read here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A kubeconfig path that wins over KUBECONFIG and the in-cluster account. */
  readonly kubeconfig?: string;
  /** A kubeconfig context other than `current-context`. */
  readonly context?: string;
  /** Where the service-account token, ca.crt and namespace files are mounted. */
  readonly serviceAccountDir?: string;
}

async function readIfExists(path: string): Promise<string | undefined> {
  const file = Bun.file(path);
  return (await file.exists()) ? await file.text() : undefined;
}

async function kubeconfigFrom(paths: readonly string[], context: string | undefined): Promise<CredentialsResult> {
  const files: { path: string; text: string }[] = [];
  for (const path of paths) {
    // KUBECONFIG may list files that do not exist; kubectl skips them, and so do we.
    const text = await readIfExists(path).catch(() => undefined);
    if (text !== undefined) files.push({ path, text });
  }
  if (files.length === 0) return { ok: false, error: `no kubeconfig file found at ${paths.join(', ')}` };
  return kubeconfigCredentials(files, context === undefined ? {} : { context });
}

/** The pod's own service account, as client-go's InClusterConfig reads it. */
export async function inClusterCredentials(
  env: Readonly<Record<string, string | undefined>>,
  dir = SERVICE_ACCOUNT_DIR,
): Promise<CredentialsResult> {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) return { ok: false, error: 'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not running in a pod' };
  const tokenPath = join(dir, 'token');
  if (!(await Bun.file(tokenPath).exists())) return { ok: false, error: `service-account token ${tokenPath} is missing` };
  // Like client-go, a missing ca.crt leaves the system roots in charge rather than failing.
  const ca = await readIfExists(join(dir, 'ca.crt'));
  const namespace = (await readIfExists(join(dir, 'namespace')))?.trim();
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    ok: true,
    credentials: {
      server: `https://${hostPart}:${port}`,
      auth: { kind: 'token_file', path: tokenPath },
      tls: ca === undefined ? { rejectUnauthorized: true } : { ca, rejectUnauthorized: true },
      namespace: namespace || undefined,
      source: 'in-cluster',
    },
  };
}

/**
 * Picks credentials the way kubectl and client-go do for a program that may run in or out of a cluster: an
 * explicit kubeconfig, then the files named by KUBECONFIG, then the pod's service account, then ~/.kube/config.
 */
export async function resolveKubeCredentials(options: CredentialOptions): Promise<CredentialsResult> {
  const { env } = options;
  if (options.kubeconfig !== undefined) return kubeconfigFrom([options.kubeconfig], options.context);
  const listed = env['KUBECONFIG']?.split(delimiter).filter((p) => p.length > 0) ?? [];
  if (listed.length > 0) return kubeconfigFrom(listed, options.context);
  if (env['KUBERNETES_SERVICE_HOST']) return inClusterCredentials(env, options.serviceAccountDir);
  const home = env['HOME'] ?? env['USERPROFILE'];
  if (home === undefined) return { ok: false, error: 'no Kubernetes credentials: not in a pod, and neither KUBECONFIG nor HOME is set' };
  const result = await kubeconfigFrom([join(home, '.kube', 'config')], options.context);
  return result.ok ? result : { ok: false, error: `no Kubernetes credentials: not in a pod, and ${result.error}` };
}
