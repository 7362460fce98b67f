// Credentials: kubeconfig files (inline and file CA, token, tokenFile, client certificates, merging, contexts,
// errors) and the in-cluster service account, each proven by discovery syncing against a TLS fake API server.
import { describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigCredentials } from '../../src/discovery/kubeconfig.ts';
import type { KubeCredentials } from '../../src/discovery/kube-auth.ts';
import { resolveKubeCredentials } from '../../src/discovery/kube-credentials.ts';
import { FakeKubernetes } from '../fixtures/fake-k8s.ts';
import { LOCALHOST_CERT, LOCALHOST_KEY } from '../../testkit/localhost-cert.ts';
import { watchFake } from './harness.ts';

function tempDir() {
  const path = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A one-context kubeconfig; `cluster` and `user` are the YAML lines under `cluster:` and `user:`. */
function kubeconfig(cluster: string[], user: string[], extra = ''): string {
  const indent = (lines: string[]) => lines.map((l) => `    ${l}`).join('\n');
  return `apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake-cluster
  cluster:
${indent(cluster)}
users:
- name: router
  user:
${indent(user.length > 0 ? user : ['{}'])}
contexts:
- name: fake
  context:
    cluster: fake-cluster
    user: router
    namespace: inference
${extra}`;
}

async function credentials(result: Promise<{ ok: true; credentials: KubeCredentials } | { ok: false; error: string }>): Promise<KubeCredentials> {
  const resolved = await result;
  if (!resolved.ok) throw new Error(resolved.error);
  return resolved.credentials;
}

async function syncs(k8s: FakeKubernetes, creds: KubeCredentials): Promise<string[]> {
  await using w = watchFake(k8s, { credentials: creds });
  expect(await w.discovery.synced).toBe(true);
  return w.ids();
}

describe('kubeconfig', () => {
  test('a token with inline CA and client certificate data reaches a mutual-TLS API server', async () => {
    await using k8s = FakeKubernetes.start({ tls: true, clientCert: true, token: 'kc-token' });
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    using dir = tempDir();
    const file = join(dir.path, 'config');
    writeFileSync(
      file,
      kubeconfig(
        [`server: ${k8s.url}/`, `certificate-authority-data: ${b64(LOCALHOST_CERT)}`],
        ['token: kc-token', `client-certificate-data: ${b64(LOCALHOST_CERT)}`, `client-key-data: ${b64(LOCALHOST_KEY)}`],
      ),
    );
    const creds = await credentials(resolveKubeCredentials({ env: { KUBECONFIG: file } }));
    expect(creds).toEqual({
      server: k8s.url,
      auth: { kind: 'token', token: 'kc-token' },
      tls: { rejectUnauthorized: true, ca: LOCALHOST_CERT, cert: LOCALHOST_CERT, key: LOCALHOST_KEY },
      namespace: 'inference',
      source: `kubeconfig ${file} (context fake)`,
    });
    expect(await syncs(k8s, creds)).toEqual(['http://10.0.0.1:8000']);
    expect(k8s.requests.every((r) => r.authorization === 'Bearer kc-token')).toBe(true);
  });

  test('relative certificate and token file paths resolve against the kubeconfig directory', async () => {
    await using k8s = FakeKubernetes.start({ tls: true, clientCert: true, token: 'from-file' });
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    using dir = tempDir();
    mkdirSync(join(dir.path, 'pki'));
    writeFileSync(join(dir.path, 'pki', 'ca.crt'), LOCALHOST_CERT);
    writeFileSync(join(dir.path, 'pki', 'client.crt'), LOCALHOST_CERT);
    writeFileSync(join(dir.path, 'pki', 'client.key'), LOCALHOST_KEY);
    writeFileSync(join(dir.path, 'token'), 'from-file\n');
    const file = join(dir.path, 'config');
    writeFileSync(
      file,
      kubeconfig([`server: ${k8s.url}`, 'certificate-authority: pki/ca.crt'], ['tokenFile: token', 'client-certificate: pki/client.crt', 'client-key: pki/client.key']),
    );
    const creds = await credentials(resolveKubeCredentials({ env: {}, kubeconfig: file }));
    expect(creds.auth).toEqual({ kind: 'token_file', path: join(dir.path, 'token') });
    expect(await syncs(k8s, creds)).toEqual(['http://10.0.0.1:8000']);
  });

  test('without the CA the self-signed server is refused; insecure-skip-tls-verify accepts it', async () => {
    await using k8s = FakeKubernetes.start({ tls: true });
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    const strict = await credentials(kubeconfigCredentials([{ path: '/k/config', text: kubeconfig([`server: ${k8s.url}`], []) }]));
    expect(strict.auth).toEqual({ kind: 'none' });
    {
      await using w = watchFake(k8s, { credentials: strict });
      const retry = await w.next('retrying');
      expect(retry.message).toMatch(/certificate/i);
    }
    const insecure = await credentials(
      kubeconfigCredentials([{ path: '/k/config', text: kubeconfig([`server: ${k8s.url}`, 'insecure-skip-tls-verify: true'], []) }]),
    );
    expect(insecure.tls.rejectUnauthorized).toBe(false);
    expect(await syncs(k8s, insecure)).toEqual(['http://10.0.0.1:8000']);
  });

  test('KUBECONFIG lists merge: the first definition of a name and the first current-context win', async () => {
    using dir = tempDir();
    const first = join(dir.path, 'first');
    const second = join(dir.path, 'second');
    writeFileSync(
      first,
      `current-context: a
contexts:
- name: a
  context: { cluster: one }
clusters:
- name: one
  cluster: { server: "https://one.example:6443" }
`,
    );
    writeFileSync(
      second,
      `current-context: b
contexts:
- name: a
  context: { cluster: two }
- name: b
  context: { cluster: two, user: basic }
clusters:
- name: one
  cluster: { server: "https://shadowed.example" }
- name: two
  cluster: { server: "https://two.example" }
users:
- name: basic
  user: { username: admin, password: hunter2 }
`,
    );
    const env = { KUBECONFIG: [join(dir.path, 'missing'), first, second].join(':') };
    expect((await credentials(resolveKubeCredentials({ env }))).server).toBe('https://one.example:6443');
    const b = await credentials(resolveKubeCredentials({ env, context: 'b' }));
    expect(b).toMatchObject({ server: 'https://two.example', auth: { kind: 'basic', username: 'admin', password: 'hunter2' }, namespace: undefined });
  });

  test('mistakes are reported with the file or entry at fault', async () => {
    const fail = async (text: string, context?: string) => {
      const result = await kubeconfigCredentials([{ path: '/k/config', text }], context === undefined ? {} : { context });
      return result.ok ? 'ok' : result.error;
    };
    const server = ['server: https://k.example'];
    expect(await fail('clusters: [')).toContain('/k/config is not valid YAML');
    expect(await fail('- just\n- a list\n')).toContain('not a kubeconfig');
    expect(await fail(kubeconfig(server, []).replace('current-context: fake\n', ''))).toBe('/k/config sets no current-context');
    expect(await fail(kubeconfig(server, []), 'nope')).toBe('context nope is not defined in /k/config');
    expect(await fail(kubeconfig(['insecure-skip-tls-verify: true'], []))).toBe('cluster fake-cluster has no server');
    expect(await fail(kubeconfig(['server: ftp://k.example'], []))).toContain('is not an http(s) URL');
    expect(await fail(kubeconfig(server, ['exec:', '  command: aws', '  args: [eks, get-token]']))).toContain('exec or auth-provider plugin');
    expect(await fail(kubeconfig([...server, 'certificate-authority: /nonexistent/ca.crt'], []))).toContain('cannot read certificate-authority /nonexistent/ca.crt');
    expect(await fail(kubeconfig(server, [`client-certificate-data: ${b64(LOCALHOST_CERT)}`]))).toContain('without a key');
  });
});

describe('in-cluster service account', () => {
  test('uses KUBERNETES_SERVICE_HOST/PORT, the token file, ca.crt and the namespace file', async () => {
    await using k8s = FakeKubernetes.start({ tls: true, token: 'sa-token' });
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    using dir = tempDir();
    writeFileSync(join(dir.path, 'token'), 'sa-token\n');
    writeFileSync(join(dir.path, 'ca.crt'), LOCALHOST_CERT);
    writeFileSync(join(dir.path, 'namespace'), 'vllm\n');
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(k8s.port) };
    const creds = await credentials(resolveKubeCredentials({ env, serviceAccountDir: dir.path }));
    expect(creds).toEqual({
      server: `https://127.0.0.1:${k8s.port}`,
      auth: { kind: 'token_file', path: join(dir.path, 'token') },
      tls: { ca: LOCALHOST_CERT, rejectUnauthorized: true },
      namespace: 'vllm',
      source: 'in-cluster',
    });
    expect(await syncs(k8s, creds)).toEqual(['http://10.0.0.1:8000']);
  });

  test('which credentials win: explicit file, KUBECONFIG, in-cluster, then ~/.kube/config', async () => {
    using dir = tempDir();
    writeFileSync(join(dir.path, 'token'), 't');
    const config = (server: string) => kubeconfig([`server: ${server}`], []);
    writeFileSync(join(dir.path, 'explicit'), config('https://explicit.example'));
    writeFileSync(join(dir.path, 'env'), config('https://env.example'));
    mkdirSync(join(dir.path, '.kube'));
    writeFileSync(join(dir.path, '.kube', 'config'), config('https://home.example'));
    const inCluster = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
    const server = async (options: Parameters<typeof resolveKubeCredentials>[0]) => (await credentials(resolveKubeCredentials(options))).server;

    const all = { ...inCluster, KUBECONFIG: join(dir.path, 'env'), HOME: dir.path };
    expect(await server({ env: all, kubeconfig: join(dir.path, 'explicit'), serviceAccountDir: dir.path })).toBe('https://explicit.example');
    expect(await server({ env: all, serviceAccountDir: dir.path })).toBe('https://env.example');
    expect(await server({ env: { ...inCluster, HOME: dir.path }, serviceAccountDir: dir.path })).toBe('https://[fd00::1]:443');
    expect(await server({ env: { HOME: dir.path } })).toBe('https://home.example');

    const missing = await resolveKubeCredentials({ env: { HOME: join(dir.path, 'nobody') } });
    expect(missing).toEqual({ ok: false, error: `no Kubernetes credentials: not in a pod, and no kubeconfig file found at ${join(dir.path, 'nobody', '.kube', 'config')}` });
    const noToken = await resolveKubeCredentials({ env: inCluster, serviceAccountDir: join(dir.path, 'nothing-here') });
    expect(noToken).toEqual({ ok: false, error: `service-account token ${join(dir.path, 'nothing-here', 'token')} is missing` });
  });
});
