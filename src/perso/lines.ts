import { InputError } from '../errors.js';
import type { LineEnding } from './layout-types.js';

/** Longer than any record: past it, the text is not records (an encrypted file read as clear, say). */
const MAX_LINE = 1 << 20;

/** One record's text and the line ending after it, as found in the file. */
export interface RawLine {
  text: string;
  ending: LineEnding | 'none';
}

/**
 * Splits text (in chunks, latin1) into lines, keeping which ending each had: a strict reader must
 * see a LF where the layout says CRLF, which a line reader hides. A CR not before a LF stays in
 * the text (and fails the printable check there). Memory is bounded by the longest line allowed.
 */
export async function* linesOf(chunks: AsyncIterable<string> | Iterable<string>): AsyncGenerator<RawLine> {
  let carry = '';
  for await (const chunk of chunks) {
    const parts = (carry + chunk).split('\n');
    carry = parts.pop()!;
    if (carry.length > MAX_LINE) throw new InputError(`no line ending within ${MAX_LINE} bytes: not a file of fixed-length records`);
    for (const part of parts) yield part.endsWith('\r') ? { text: part.slice(0, -1), ending: 'CRLF' } : { text: part, ending: 'LF' };
  }
  if (carry !== '') yield { text: carry, ending: 'none' };
}

/** Why a record's line ending is not one the layout allows, or undefined. */
export function lineEndingProblem(ending: RawLine['ending'], allowed: readonly LineEnding[]): string | undefined {
  if (ending !== 'none' && allowed.includes(ending)) return undefined;
  return `ends with ${ending === 'none' ? 'no line ending' : ending}; the layout says ${allowed.join(' or ')}`;
}
