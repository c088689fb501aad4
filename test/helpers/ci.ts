/** True when the run is CI (`CI=true`, as `.ci/run` sets it): then nothing may be skipped. */
export function underCi(): boolean {
  const ci = process.env.CI;
  return Boolean(ci) && ci !== 'false' && ci !== '0';
}

/**
 * In a mocha hook or test, for a server or tool the test needs and cannot find: under CI the run
 * fails with the reason; elsewhere the test (or suite, from a `before`) is skipped visibly, counted
 * as pending, with the reason printed.
 */
export function requireOrSkip(ctx: Mocha.Context, reason: string | null): void {
  if (!reason) return;
  if (underCi()) throw new Error(`CI requires it: ${reason}`);
  console.warn(`  (pending: ${reason})`);
  ctx.skip();
}
