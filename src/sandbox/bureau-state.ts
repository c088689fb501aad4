import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/** What the sandbox bureau remembers between runs, in bureau-state.json beside the sandbox config. */
export interface BureauState {
  /** personalization files already answered, by name: each is answered once */
  answered: Record<string, { report: string; accepted: boolean; at: string }>;
  /** closing stock per product code */
  stock: Record<string, number>;
  /** last report sequence per report date (YYYYMMDD) */
  reportSequence: Record<string, number>;
}

export const BUREAU_STATE_FILE = 'bureau-state.json';

export function loadBureauState(file: string): BureauState {
  if (!existsSync(file)) return { answered: {}, stock: {}, reportSequence: {} };
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as BureauState;
    return { answered: state.answered ?? {}, stock: state.stock ?? {}, reportSequence: state.reportSequence ?? {} };
  } catch (err) {
    throw new ConfigError(`${file} is not a readable sandbox bureau state (delete it to start afresh): ${(err as Error).message}`);
  }
}

/** Replaces the state file atomically (write aside, then rename). */
export function saveBureauState(file: string, state: BureauState): void {
  writeFileSync(file + '.tmp', JSON.stringify(state, null, 2) + '\n');
  renameSync(file + '.tmp', file);
}
