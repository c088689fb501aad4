/**
 * The CPU time of the whole machine (every process and core: the database server, sshd, gpg), from
 * /proc/stat, so that a pipeline of several processes and the job with its server can be compared by
 * the work they made the machine do, not only by their wall time. Linux only; undefined elsewhere.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture the kernel exports to /proc

/** Busy CPU seconds of every core since boot (user, nice, system, irq, softirq, steal: not idle or iowait). */
export function machineCpuSeconds(): number | undefined {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  } catch {
    return undefined;
  }
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_SECOND;
}

export const CORES = availableParallelism();
