import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { UsageError } from '../errors.js';
import { explainFile, loadLayout, type ExplainedLine } from '../perso/index.js';
import { wholeNumber } from './options.js';
import { printJson, printTable } from './output.js';

export const order = 60;

interface ExplainOptions {
  record?: string;
  line?: string;
  layout?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const perso = program.command('perso').description('personalization files (fixed-width records for the bureau)');

  perso
    .command('explain <file>')
    .description('print each record of a CLEAR perso file (test data only) field by field with positions; PANs are always masked')
    .option('--record <n>', 'only the nth detail record (the record sequence the bureau quotes)')
    .option('--line <n>', 'only this line of the file (1 = header)')
    .option('--layout <name>', 'layout name (default: perso.layout of the config)')
    .option('--json', 'one JSON document per record')
    .action(async (file: string, opts: ExplainOptions, cmd: Command) => {
      const selection = { ...(opts.record ? { record: wholeNumber(opts.record, '--record') } : {}), ...(opts.line ? { line: wholeNumber(opts.line, '--line') } : {}) };
      if (selection.record && selection.line) throw new UsageError('give --record or --line, not both');
      const config = loadConfig(cmd.optsWithGlobals().config);
      const layout = loadLayout(opts.layout ?? config.perso.layout, config.perso.layoutsDir);
      // a folder, a fifo or a device: the read's own error (EISDIR) names no file, or it waits for ever
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`${file}: no such file`);
      let shown = 0;
      for await (const record of explainFile(layout, file, selection)) {
        shown++;
        if (opts.json) printJson(record, 0);
        else printRecord(record);
      }
      if (!shown && (selection.record || selection.line)) {
        throw new UsageError(`${file}: no ${selection.record ? `detail record ${selection.record}` : `line ${selection.line}`}`);
      }
    });
}

function printRecord(record: ExplainedLine): void {
  const out = process.stdout;
  const title = record.detailNumber ? `detail record ${record.detailNumber}` : `${record.type} record`;
  out.write(`${title} (line ${record.lineNumber})\n`);
  printTable(record.fields.map((f) => ({ pos: f.position, len: f.length, field: f.name, type: f.type, value: f.type === 'filler' && !f.value.trim() ? '(blank)' : `[${f.value}]` })));
  if (record.problem) out.write(`PROBLEM: ${record.problem}\n`);
  out.write('\n');
}
