import { strict as assert } from 'node:assert';
import { makeMetrics } from '../../src/daemon/metrics.js';
import { codeOf, codeSpan, readDoc, tableRows } from './doc-tables.js';

/**
 * docs/operations.md's table of metrics against the daemon's registry (src/daemon/metrics.ts): every
 * metric it exports is in the table with its labels and type, and every `bx_` name a doc gives exists.
 */

const DOCS = ['README.md', 'docs/operations.md', 'docs/design.md', 'docs/bureaus.md', 'docs/configuration.md', 'docs/commands.md'];

interface Exported {
  name: string;
  labelNames: string[];
  type: string;
}

function exported(): Exported[] {
  // nothing is read from the database until a scrape: the registry alone is looked at
  const metrics = makeMetrics({ db: undefined as never, log: undefined as never, defaultMetrics: false, bureaus: ['BUREAU01'] });
  return metrics.registry.getMetricsAsArray() as unknown as Exported[];
}

/** The rows of the metrics table: `name{label,label}` | type | meaning. */
function documented(): Map<string, { labels: string[]; type: string; line: number }> {
  const rows = new Map<string, { labels: string[]; type: string; line: number }>();
  for (const { cells, line } of tableRows(readDoc('docs/operations.md'))) {
    const m = /^(bx_[a-z_]+)(?:\{([a-z_,]*)\})?$/.exec(codeSpan(cells[0]!) ?? '');
    if (m) rows.set(m[1]!, { labels: m[2] ? m[2].split(',') : [], type: cells[1]!, line });
  }
  return rows;
}

describe('docs/operations.md against the metrics the daemon exports', () => {
  it('documents every metric with its labels and type', () => {
    const rows = documented();
    const wrong: string[] = [];
    for (const metric of exported()) {
      const row = rows.get(metric.name);
      if (!row) wrong.push(`${metric.name}: not in the table`);
      else {
        if ([...row.labels].sort().join() !== [...metric.labelNames].sort().join()) wrong.push(`docs/operations.md:${row.line}: ${metric.name}{${row.labels}}: its labels are ${metric.labelNames}`);
        if (row.type !== metric.type) wrong.push(`docs/operations.md:${row.line}: ${metric.name}: a ${metric.type}, the doc says ${row.type}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('names no bx_ metric that does not exist, in any doc', () => {
    const names = new Set(exported().map((m) => m.name));
    const unknown: string[] = [];
    for (const doc of DOCS) {
      for (const { line, code } of codeOf(readDoc(doc))) {
        for (const [name] of code.matchAll(/\bbx_[a-z_]+\*?/g)) {
          const known = name.endsWith('*') ? [...names].some((n) => n.startsWith(name.slice(0, -1))) : names.has(name);
          if (!known) unknown.push(`${doc}:${line}: ${name}`);
        }
      }
    }
    assert.deepEqual(unknown, []);
  });
});
