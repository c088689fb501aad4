/**
 * Mocha root hook plugin (.mocharc.json `require`): at the end of the run, prints how many tests
 * passed on each database, counted by the `[dialect]` label describeEachDatabase puts in the title,
 * so that a run shows MariaDB beside SQLite and PostgreSQL. Failed and pending tests (a suite
 * skipped because its server was missing is pending) are counted apart.
 */
import { DIALECTS } from './db.js';

function* testsOf(suite: Mocha.Suite): Generator<Mocha.Test> {
  yield* suite.tests;
  for (const child of suite.suites) yield* testsOf(child);
}

type Outcome = 'passed' | 'failed' | 'pending';

/** Tests that did not run (left out by --grep, or after a bail) have no outcome and are not counted. */
function outcomeOf(test: Mocha.Test): Outcome | undefined {
  if (test.state === 'passed' || test.state === 'failed') return test.state;
  return test.isPending() ? 'pending' : undefined;
}

export const mochaHooks = {
  afterAll(this: Mocha.Context) {
    let root = this.test!.parent!;
    while (root.parent) root = root.parent;
    const counts = new Map<Outcome, Map<string, number>>(['passed', 'failed', 'pending'].map((o) => [o as Outcome, new Map(DIALECTS.map((d) => [d, 0]))]));
    for (const test of testsOf(root)) {
      const dialect = DIALECTS.find((d) => test.fullTitle().includes(`[${d}]`));
      const outcome = outcomeOf(test);
      if (!dialect || !outcome) continue;
      const byDialect = counts.get(outcome)!;
      byDialect.set(dialect, byDialect.get(dialect)! + 1);
    }
    const list = (outcome: Outcome) => DIALECTS.filter((d) => outcome === 'passed' || counts.get(outcome)!.get(d)).map((d) => `${d} ${counts.get(outcome)!.get(d)}`).join(', ');
    const others = (['failed', 'pending'] as const).filter((o) => list(o)).map((o) => `${o}: ${list(o)}`);
    console.log(`\n  tests per database: ${list('passed')}${others.length ? ` (${others.join('; ')})` : ''}`);
  },
};
