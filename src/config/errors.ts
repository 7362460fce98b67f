// A configuration problem: which flag, which value, and why. Printed at start-up before exit 2.
export interface ConfigError {
  readonly flag: string;
  readonly value?: string;
  readonly reason: string;
}

export function formatConfigError(e: ConfigError): string {
  const value = e.value === undefined ? '' : ` '${e.value}'`;
  return `error: ${e.flag}${value}: ${e.reason}`;
}
