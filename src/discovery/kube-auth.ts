// What talking to the Kubernetes API needs: where it is, how to authenticate, which TLS to trust (read by kube-credentials.ts and kubeconfig.ts).

/** How requests authenticate. A token file is re-read for every request: projected service-account tokens rotate. */
export type KubeAuth =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'token_file'; readonly path: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

export interface KubeTls {
  /** PEM of the CA(s) that sign the API server's certificate; undefined trusts the system roots. */
  readonly ca?: string;
  /** PEM client certificate and key, for clusters that authenticate clients by certificate. */
  readonly cert?: string;
  readonly key?: string;
  /** False for `insecure-skip-tls-verify: true`. */
  readonly rejectUnauthorized: boolean;
  /** `tls-server-name`: the name to verify the certificate against when it differs from the URL's host. */
  readonly serverName?: string;
}

export interface KubeCredentials {
  /** Base URL of the API server, e.g. `https://10.96.0.1:443`, without a trailing slash. */
  readonly server: string;
  readonly auth: KubeAuth;
  readonly tls: KubeTls;
  /** The namespace the context (or the pod's service account) is in; informational, discovery is scoped by its own option. */
  readonly namespace: string | undefined;
  /** Where these came from, for the start-up log line: `in-cluster` or `kubeconfig <path> (context <name>)`. */
  readonly source: string;
}

export type CredentialsResult = { readonly ok: true; readonly credentials: KubeCredentials } | { readonly ok: false; readonly error: string };
