/**
 * A strict reader of the Prometheus text exposition format 0.0.4, as Prometheus's own parser reads
 * it (prometheus/common expfmt): one sample or comment per `\n`-ended line; a label value between
 * double quotes with exactly three escapes (`\\`, `\"`, `\n`), any other backslash an error; a
 * HELP text with two (`\\`, `\n`). Throws naming the line on the first thing a scrape would refuse.
 */
export interface Sample { name: string; labels: Record<string, string>; value: number }

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)$/;

export function parseExposition(text: string): { samples: Sample[]; help: Map<string, string> } {
  if (text.length && !text.endsWith('\n')) throw new Error('the exposition does not end with a line break');
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  text.split('\n').slice(0, -1).forEach((line, i) => {
    const where = `line ${i + 1} (${JSON.stringify(line.slice(0, 120))})`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+) ?(.*)$/.exec(line);
      if (!m) return; // any other comment
      if (!METRIC_NAME.test(m[2]!) || METRIC_NAME.exec(m[2]!)![0] !== m[2]) throw new Error(`${where}: bad metric name`);
      if (m[1] === 'TYPE' && !/^(counter|gauge|histogram|summary|untyped)$/.test(m[3]!)) throw new Error(`${where}: bad type`);
      if (m[1] === 'HELP') help.set(m[2]!, unescape(m[3]!, false, where));
      return;
    }
    samples.push(sampleLine(line, where));
  });
  return { samples, help };
}

function sampleLine(line: string, where: string): Sample {
  const name = METRIC_NAME.exec(line)?.[0];
  if (!name) throw new Error(`${where}: no metric name`);
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    while (!rest.startsWith('}')) {
      const label = LABEL_NAME.exec(rest)?.[0];
      if (!label) throw new Error(`${where}: bad label name at ${JSON.stringify(rest.slice(0, 20))}`);
      rest = rest.slice(label.length);
      if (!rest.startsWith('="')) throw new Error(`${where}: label ${label} without ="`);
      rest = rest.slice(2);
      let raw = '';
      for (;;) {
        if (rest === '') throw new Error(`${where}: label ${label}'s value is not closed`);
        const c = rest[0]!;
        if (c === '"') break;
        if (c === '\\') {
          raw += rest.slice(0, 2);
          rest = rest.slice(2);
        } else {
          raw += c;
          rest = rest.slice(1);
        }
      }
      rest = rest.slice(1);
      if (label in labels) throw new Error(`${where}: label ${label} twice`);
      labels[label] = unescape(raw, true, where);
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) throw new Error(`${where}: expected , or } after label ${label}`);
    }
    rest = rest.slice(1);
  }
  const m = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!m || !VALUE.test(m[1]!)) throw new Error(`${where}: bad value`);
  return { name, labels, value: Number(m[1]!.replace('Inf', 'Infinity')) };
}

function unescape(raw: string, quoteToo: boolean, where: string): string {
  return raw.replace(/\\(.?)/gs, (_all, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quoteToo) return '"';
    throw new Error(`${where}: invalid escape \\${c}`);
  });
}
