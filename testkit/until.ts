// Waits for a condition that the code under test changes without an event to await, instead of a guessed sleep.

/** Polls `predicate` every 5 ms until it holds; throws naming `what` once `timeoutMs` have passed. */
export async function until(predicate: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}
