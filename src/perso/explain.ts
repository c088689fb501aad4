import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';
import type { Layout } from './layout-types.js';
import { lineEndingProblem, linesOf } from './lines.js';
import { explainRecord, type ExplainedRecord } from './parse.js';

export interface ExplainSelection {
  /** only the nth detail record (the record sequence the bureau quotes) */
  record?: number;
  /** only this line of the file (1 = header) */
  line?: number;
}

export interface ExplainedLine extends ExplainedRecord {
  /** which detail record this is (1…), for detail records */
  detailNumber?: number;
}

/**
 * Reads a clear personalization file line by line (streaming) and explains the selected records,
 * PANs masked. A file that does not start like a record of the layout (an encrypted file, another
 * format) is refused rather than dumped.
 */
export async function* explainFile(layout: Layout, path: string, selection: ExplainSelection = {}): AsyncGenerator<ExplainedLine> {
  const input = createReadStream(path, { encoding: 'latin1' });
  let lineNumber = 0;
  let details = 0;
  try {
    for await (const line of linesOf(input)) {
      lineNumber++;
      const explained: ExplainedLine = explainRecord(layout, line.text, lineNumber);
      const endingProblem = lineEndingProblem(line.ending, layout.lineEndings);
      if (endingProblem) explained.problem = explained.problem ? `${explained.problem}; ${endingProblem}` : endingProblem;
      if (lineNumber === 1 && explained.type === 'unknown') {
        throw new InputError(`does not look like a clear ${layout.name} file (encrypted, or another layout?)`, { file: path, record: 1 });
      }
      if (explained.type === 'detail') explained.detailNumber = ++details;
      if (selection.line !== undefined && selection.line !== lineNumber) continue;
      if (selection.record !== undefined && explained.detailNumber !== selection.record) continue;
      yield explained;
      if (selection.line !== undefined || selection.record !== undefined) return;
    }
  } finally {
    input.destroy();
  }
}
