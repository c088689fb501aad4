import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PROJECT_ROOT } from '../../src/config/root.js';
import { codeOf, codeSpans, readDoc, tableRows } from './doc-tables.js';

/**
 * The docs against the CLI the program builds (src/cli.ts and src/cli/): docs/commands.md has a
 * section for every command naming each of its options, and every command line a doc shows
 * (`bureau-exchange …`) names a command and options that exist.
 */

const DOCS = ['README.md', 'src/sandbox/README.md', ...readdirSync(join(PROJECT_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The commands that run something (not the groups), by their full name: `contracts import`. */
function leafCommands(program: Command): Map<string, Command> {
  const found = new Map<string, Command>();
  const walk = (command: Command, prefix: string) => {
    for (const sub of command.commands) {
      const name = `${prefix}${sub.name()}`;
      if (sub.commands.length) walk(sub, `${name} `);
      else found.set(name, sub);
    }
  };
  walk(program, '');
  return found;
}

const longFlags = (command: Command) => command.options.map((o) => o.long).filter((f): f is string => f !== undefined);

/** Each command line a doc shows: its words after the program's name, up to a pipe, a `;`, `&&`, a comment or its end. */
function commandLines(): Array<{ where: string; words: string[] }> {
  const lines: Array<{ where: string; words: string[] }> = [];
  for (const doc of DOCS) {
    for (const { line, code } of codeOf(readDoc(doc))) {
      for (const m of code.matchAll(/(?:^|\s)(?:npx |\.\/bin\/|node bin\/)?bureau-exchange(?:\.js)? +((?:(?!\s[|#]|;|&&).)*)/g)) {
        const words = m[1]!.trim().split(/\s+/);
        // a path or a program after the name is the user, group or container (`-g bureau-exchange /etc/…`, `exec bureau-exchange node …`)
        if (/^[a-z][a-z-]*$/.test(words[0]!) && words[0] !== 'node') lines.push({ where: `${doc}:${line}: bureau-exchange ${m[1]!.trim()}`, words });
        else if (words[0]!.startsWith('-')) lines.push({ where: `${doc}:${line}: bureau-exchange ${m[1]!.trim()}`, words });
      }
    }
  }
  return lines;
}

describe('the docs against the CLI', () => {
  let program: Command;
  before(async () => {
    // imported, src/cli.ts builds the program and runs nothing (it runs only as the process's script)
    program = await (await import('../../src/cli.js')).buildProgram();
  });

  it('docs/commands.md has a heading for every command, naming each of its options', () => {
    const headings = readDoc('docs/commands.md').split('\n').filter((l) => l.startsWith('### ')).flatMap((l) => codeSpans(l));
    const wrong: string[] = [];
    for (const [name, command] of leafCommands(program)) {
      const span = headings.find((s) => s === name || s.startsWith(`${name} `));
      if (!span) wrong.push(`${name}: no heading`);
      else for (const flag of longFlags(command)) if (!span.split(/[\s[\]|]+/).includes(flag)) wrong.push(`${name}: ${flag} not in its heading \`${span}\``);
    }
    assert.deepEqual(wrong, []);
  });

  it('docs/commands.md lists every option the program takes before any command', () => {
    const rows = tableRows(readDoc('docs/commands.md')).filter((r) => r.section === 'Options of every command').map((r) => r.cells[0]);
    const missing = program.options.filter((o) => !rows.includes(`\`${o.flags}\``)).map((o) => o.flags);
    assert.deepEqual(missing, []);
  });

  it('every command line in the docs names a command and options that exist', () => {
    const leaves = leafCommands(program);
    const groups = new Set(program.commands.filter((c) => c.commands.length).map((c) => c.name()));
    const global = new Map(program.options.map((o) => [o.long!, o.required || o.optional]));
    const wrong: string[] = [];
    for (const { where, words } of commandLines()) {
      const rest = [...words];
      // options of the program first (`--config FILE status`)
      while (rest[0]?.startsWith('-') && global.has(rest[0])) if (global.get(rest.shift()!)) rest.shift();
      const first = rest.shift() ?? '';
      if (['…', '...', ''].includes(first) || /^[-<[]/.test(first)) continue; // `bureau-exchange …`, `--help`, `<command> --help`
      const name = groups.has(first) ? `${first} ${rest.shift() ?? ''}` : first;
      const command = leaves.get(name);
      if (!command) {
        wrong.push(`${where}: no command ${name}`);
        continue;
      }
      const flags = new Set([...longFlags(command), ...global.keys(), '--help']);
      for (const word of rest.flatMap((w) => w.split(/[[\]|]/))) {
        const flag = /^--[a-z-]+/.exec(word)?.[0];
        if (flag && !flags.has(flag)) wrong.push(`${where}: ${name} has no option ${flag}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
