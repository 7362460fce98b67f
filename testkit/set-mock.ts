// Changes a running mock engine's behaviour through its control route, as tests and benchmarks do between cases.

/** Posts `patch` (MockEngineOptions fields) to the engine's `/_mock/set`; throws unless it answers 2xx. */
export async function setMock(engineUrl: string, patch: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${engineUrl}/_mock/set`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
  if (!res.ok) throw new Error(`/_mock/set answered ${res.status}: ${await res.text()}`);
}
