// The parts of a Kubernetes Pod discovery reads, and the rule that turns a pod into an endpoint or not.
import type { EndpointRole, EndpointSpec } from '../core/endpoint.ts';
import { matchesSelector, type LabelSelector } from './selector.ts';

/** The annotation a prefill pod carries its Mooncake / SGLang bootstrap port in, as in the Rust router. */
export const BOOTSTRAP_PORT_ANNOTATION = 'vllm.ai/bootstrap-port';

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly deletionTimestamp?: string;
}

export interface PodCondition {
  readonly type: string;
  readonly status: string;
}

export interface Pod {
  readonly metadata?: ObjectMeta;
  readonly status?: {
    readonly phase?: string;
    readonly podIP?: string;
    readonly conditions?: readonly PodCondition[];
  };
}

/** Names a pod in events and logs. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
}

/** What one selector means: the pods it matches get this role, unless an earlier selector claimed them. */
export interface PodRule {
  readonly role: EndpointRole;
  readonly selector: LabelSelector;
  /** Pods matching this selector belong to another rule (prefill wins over decode, as in the Rust router). */
  readonly yieldsTo?: LabelSelector;
  /** Port of the vLLM server in the pod (`--service-discovery-port`). */
  readonly port: number;
  /** `http` (vLLM's OpenAI server) or `grpc` (its gRPC engine front, `--service-discovery-scheme`); default http. */
  readonly scheme?: 'http' | 'grpc';
}

export type PodVerdict =
  | { readonly serving: true; readonly spec: EndpointSpec }
  | { readonly serving: false; readonly why: 'deleting' | 'not_running' | 'not_ready' | 'no_ip' | 'not_selected' };

export function podRef(pod: Pod): PodRef {
  return { namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' };
}

/** `namespace/name`: unique among live pods, and stable across the MODIFIED events of one pod. */
export function podKey(pod: Pod): string {
  const ref = podRef(pod);
  return `${ref.namespace}/${ref.name}`;
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The annotation as a port, or null when absent or not a port number (the Rust router's `parse::<u16>().ok()`). */
export function bootstrapPort(pod: Pod): number | null {
  const raw = pod.metadata?.annotations?.[BOOTSTRAP_PORT_ANNOTATION]?.trim();
  if (raw === undefined || !/^\d{1,5}$/.test(raw)) return null;
  const port = Number(raw);
  return port >= 1 && port <= 65535 ? port : null;
}

/**
 * A pod serves when it is Running, has an IP, its Ready condition is True and it is not being deleted. The Rust
 * router only dropped pods on deletion, so a pod that failed its readiness probe kept taking traffic; here it
 * leaves as soon as it is not ready, and comes back when it is.
 */
export function podVerdict(pod: Pod, rule: PodRule): PodVerdict {
  const labels = pod.metadata?.labels;
  if (!matchesSelector(labels, rule.selector)) return { serving: false, why: 'not_selected' };
  if (rule.yieldsTo !== undefined && matchesSelector(labels, rule.yieldsTo)) return { serving: false, why: 'not_selected' };
  if (pod.metadata?.deletionTimestamp) return { serving: false, why: 'deleting' };
  if (pod.status?.phase !== 'Running') return { serving: false, why: 'not_running' };
  const ip = pod.status.podIP;
  if (!ip) return { serving: false, why: 'no_ip' };
  if (!isReady(pod)) return { serving: false, why: 'not_ready' };
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const spec: EndpointSpec = { url: `${rule.scheme ?? 'http'}://${host}:${rule.port}`, role: rule.role, name: pod.metadata?.name };
  return { serving: true, spec: rule.role === 'prefill' ? { ...spec, bootstrapPort: bootstrapPort(pod) } : spec };
}
