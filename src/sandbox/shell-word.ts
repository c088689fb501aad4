/**
 * A path as one shell word, for the commands the demo and `sandbox init` print to be copied: left
 * as it is when made of plain characters, otherwise single-quoted (a space, a quote, `$`, non-ASCII
 * letters in a home folder's name would otherwise split or change the command).
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
