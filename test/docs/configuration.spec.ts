import { strict as assert } from 'node:assert';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/root.js';
import { codeOf, codeSpan, codeSpans, readDoc, tableRows } from './doc-tables.js';

/**
 * docs/configuration.md against the schema the config is loaded with: every key of the schema is
 * documented, every documented key exists, and what a row says of a key's default, bounds and
 * values is what the schema holds.
 */

interface Key {
  path: string;
  /** the schema with optional/default/pipe taken off */
  schema: any;
  /** the default the schema gives, when it gives one (prefault({}) of a section is not one) */
  default?: { value: unknown };
  leaf: boolean;
}

/** The wrapper types a key's schema may come in; the value's own schema is inside. */
function unwrap(schema: any): { schema: any; default?: { value: unknown } } {
  let found: { value: unknown } | undefined;
  for (;;) {
    const type = schema.def.type;
    if (type === 'default' && !found) found = { value: schema.def.defaultValue };
    if (type === 'default' || type === 'prefault' || type === 'optional' || type === 'nullable') schema = schema.def.innerType;
    else if (type === 'pipe') schema = schema.def.in;
    else return found ? { schema, default: found } : { schema };
  }
}

/** Every key of the schema, as the docs write it: `database.pool.max`, `bureaus[i].sftp.host`. */
function schemaKeys(): Key[] {
  const keys: Key[] = [];
  const walk = (schema: any, path: string) => {
    const { schema: inner, default: dflt } = unwrap(schema);
    const type = inner.def.type;
    const element = type === 'array' ? unwrap(inner.element).schema : undefined;
    const objectLike = type === 'object' || element?.def.type === 'object';
    if (path) keys.push({ path, schema: inner, ...(dflt ? { default: dflt } : {}), leaf: !objectLike });
    if (type === 'object') for (const [name, child] of Object.entries(inner.shape)) walk(child, path ? `${path}.${name}` : name);
    if (element?.def.type === 'object') for (const [name, child] of Object.entries(element.shape)) walk(child, `${path}[i].${name}`);
  };
  walk(configSchema, '');
  return keys;
}

/**
 * A section used at two places (`pgp` at the top and in each bureau) is documented once, at its
 * shortest path: `bureaus[i].pgp.armor` is `pgp.armor`.
 */
function canonical(keys: Key[]): (path: string) => string {
  const home = new Map<unknown, string>();
  for (const key of [...keys].sort((a, b) => a.path.length - b.path.length)) {
    if (!key.leaf && !home.has(key.schema)) home.set(key.schema, key.path);
  }
  const byPath = new Map(keys.map((k) => [k.path, k]));
  return (path) => {
    for (let cut = path.lastIndexOf('.'); cut > 0; cut = path.lastIndexOf('.', cut - 1)) {
      const owner = byPath.get(path.slice(0, cut));
      const at = owner && home.get(owner.schema);
      if (at !== undefined && at !== owner!.path) return `${at}${path.slice(cut)}`;
    }
    return path;
  };
}

interface DocKey {
  key: string;
  type: string;
  default: string;
  meaning: string;
  line: number;
}

/** The rows of the key tables of configuration.md, keys written in full (`bureaus[i].` added in its section). */
function documentedKeys(): Map<string, DocKey> {
  const rows = new Map<string, DocKey>();
  for (const { section, cells, line } of tableRows(readDoc('docs/configuration.md'))) {
    const name = codeSpan(cells[0]!);
    if (!name || cells.length !== 4 || section === 'Environment variables') continue;
    const key = section.startsWith('`bureaus[i]`') ? `bureaus[i].${name}` : name;
    assert.ok(!rows.has(key), `docs/configuration.md:${line}: ${key} is documented twice`);
    rows.set(key, { key, type: cells[1]!, default: cells[2]!, meaning: cells[3]!, line });
  }
  return rows;
}

const numbersIn = (text: string) => [...text.replace(/(\d),(?=\d{3})/g, '$1').matchAll(/\d+(\.\d+)?/g)].map((m) => Number(m[0]));
const isBound = (n: number | null | undefined): n is number => typeof n === 'number' && Number.isFinite(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER;

describe('docs/configuration.md against the config schema', () => {
  const keys = schemaKeys();
  const home = canonical(keys);
  const docs = documentedKeys();
  const documented = (key: Key) => keys.filter((k) => docs.has(k.path) && key.path.startsWith(`${k.path}.`));

  it('documents every key of the schema (a key of a list entry or a shared section in the row that owns it)', () => {
    const missing = keys.filter((k) => k.leaf).filter((k) => {
      if (docs.has(home(k.path))) return false;
      // routing.rules[i].when.country: named in the row of routing.rules[i].when
      const last = k.path.slice(k.path.lastIndexOf('.') + 1);
      return !documented(k).some((owner) => codeSpans(docs.get(owner.path)!.meaning).includes(last));
    });
    assert.deepEqual(missing.map((k) => k.path), []);
  });

  it('documents no key the schema does not have', () => {
    const known = new Set(keys.map((k) => k.path));
    const unknown = [...docs.values()].filter((d) => !known.has(d.key)).map((d) => `docs/configuration.md:${d.line}: ${d.key}`);
    assert.deepEqual(unknown, []);
  });

  it('gives each key the default the schema gives it', () => {
    const wrong: string[] = [];
    for (const key of keys.filter((k) => k.default && docs.has(k.path))) {
      const doc = docs.get(key.path)!;
      const written = codeSpans(doc.default)[0];
      const value = key.default!.value;
      const same = written !== undefined && (typeof value === 'string' ? written === value : JSON.stringify(parseYaml(written)) === JSON.stringify(value));
      if (!same || !doc.default.startsWith('`')) wrong.push(`docs/configuration.md:${doc.line}: ${key.path}: the doc says ${doc.default}, the schema ${JSON.stringify(value)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('gives each number its bounds, and says when it must be whole', () => {
    const wrong: string[] = [];
    for (const key of keys.filter((k) => docs.has(k.path))) {
      const doc = docs.get(key.path)!;
      const number = key.schema.def.type === 'number' ? key.schema : key.schema.def.type === 'array' ? unwrap(key.schema.element).schema : undefined;
      if (number?.def.type !== 'number') continue;
      const written = numbersIn(doc.type);
      for (const bound of [number.minValue, number.maxValue].filter(isBound)) {
        if (!written.includes(bound)) wrong.push(`docs/configuration.md:${doc.line}: ${key.path}: bound ${bound} not in "${doc.type}"`);
      }
      if (number.isInt && key.schema === number && !/whole number/.test(doc.type)) wrong.push(`docs/configuration.md:${doc.line}: ${key.path}: a whole number, the doc says "${doc.type}"`);
    }
    assert.deepEqual(wrong, []);
  });

  it('names every value of a key that takes one of a list', () => {
    const wrong: string[] = [];
    for (const key of keys.filter((k) => k.schema.def.type === 'enum' && docs.has(k.path))) {
      const doc = docs.get(key.path)!;
      const values = Object.values(key.schema.def.entries as Record<string, string>);
      const missing = values.filter((v) => !codeSpans(doc.type).includes(v));
      if (missing.length) wrong.push(`docs/configuration.md:${doc.line}: ${key.path}: ${missing.join(', ')} not in "${doc.type}"`);
    }
    assert.deepEqual(wrong, []);
  });

  it('lists the default variable of every …Env key among the environment variables, with its key', () => {
    const section = readDoc('docs/configuration.md').split('\n## Environment variables')[1] ?? '';
    const rows = tableRows(`## Environment variables${section}`).map((r) => r.cells[0]!);
    const missing = keys.filter((k) => k.path.endsWith('Env') && k.default && home(k.path) === k.path)
      .filter((k) => !rows.some((cell) => codeSpans(cell).includes(String(k.default!.value)) && codeSpans(cell).includes(k.path)))
      .map((k) => `${k.path} (${String(k.default!.value)})`);
    assert.deepEqual(missing, []);
  });

  it('names no config key that does not exist, in any doc', () => {
    const docs = ['README.md', 'src/sandbox/README.md', ...readdirSync(join(PROJECT_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const sections = Object.keys((configSchema as any).def.in.shape).join('|');
    // `sftp.afterApply: delete`, `bureaus[1].sftp.host`: the key at the start of a code span
    const keyAt = new RegExp(`^(?:${sections})(?:\\[\\w*\\])?(?:\\.[A-Za-z0-9]+(?:\\[\\w*\\])?)+`);
    const known = new Set(keys.map((k) => k.path));
    const unknown: string[] = [];
    for (const doc of docs) {
      for (const { line, code } of codeOf(readDoc(doc))) {
        const key = keyAt.exec(code)?.[0]?.replace(/\[\w*\]/g, '[i]');
        if (key && !/\.(yaml|ts)$/.test(key) && !known.has(key) && !known.has(home(key))) unknown.push(`${doc}:${line}: ${key}`);
      }
    }
    assert.deepEqual(unknown, []);
  });
});
