// The error a start-up step throws for a configuration the flags accept but the machine cannot honour.
/** A start-up problem in the configuration (a missing tokenizer file…): main exits 2, as for flag errors. */
export class ConfigProblem extends Error {}
