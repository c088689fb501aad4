/**
 * What a running job has done so far, as plain counters: the job advances them, and whoever shows
 * progress (a terminal line, a periodic log line, the daemon's metrics) reads a snapshot when it
 * wants. Nothing here writes anywhere, so a job costs the same whether anyone watches or not.
 */

export type ProgressUnit = 'cards' | 'reports';

export interface ProgressSnapshot {
  job: string;
  /** what the job is doing now, e.g. "claiming and encrypting", "uploading", "applying reports" */
  step: string;
  unit: ProgressUnit;
  /** units done in this step */
  done: number;
  /** units this step expects in all, when known */
  total: number | null;
  /** bytes written or read in this step (encrypted file, downloaded reports) */
  bytes: number;
  /** seconds since the step began */
  elapsedSeconds: number;
  /** units per second over the step so far (0 before the first second's work) */
  rate: number;
  /** seconds left at that rate, when the total is known */
  etaSeconds: number | null;
}

export class JobProgress {
  private step = 'starting';
  private unit: ProgressUnit = 'cards';
  private done = 0;
  private total: number | null = null;
  private bytes = 0;
  private stepStart: number;

  constructor(readonly job: string, private readonly now: () => number = Date.now) {
    this.stepStart = now();
  }

  /** A new step begins: its counters start from zero. */
  begin(step: string, unit: ProgressUnit, total: number | null = null): void {
    Object.assign(this, { step, unit, total, done: 0, bytes: 0, stepStart: this.now() });
  }

  advance(units: number, bytes = 0): void {
    this.done += units;
    this.bytes += bytes;
  }

  addBytes(bytes: number): void {
    this.bytes += bytes;
  }

  snapshot(): ProgressSnapshot {
    const elapsedSeconds = Math.max(0, (this.now() - this.stepStart) / 1000);
    const rate = elapsedSeconds > 0 ? this.done / elapsedSeconds : 0;
    const left = this.total === null ? null : Math.max(0, this.total - this.done);
    const etaSeconds = left === null ? null : left === 0 ? 0 : rate > 0 ? left / rate : null;
    return { job: this.job, step: this.step, unit: this.unit, done: this.done, total: this.total, bytes: this.bytes, elapsedSeconds, rate, etaSeconds };
  }
}

/** One line for people: "send: claiming and encrypting 120,000/1,000,000 cards, 31.2 MB, 24,000 cards/s, ETA 37 s". */
export function describeProgress(s: ProgressSnapshot): string {
  const count = s.total === null ? `${grouped(s.done)} ${s.unit}` : `${grouped(s.done)}/${grouped(s.total)} ${s.unit}`;
  const parts = [`${s.job}: ${s.step} ${count}`];
  if (s.bytes) parts.push(megabytes(s.bytes));
  if (s.rate) parts.push(`${grouped(Math.round(s.rate))} ${s.unit}/s`);
  if (s.etaSeconds !== null && s.done < (s.total ?? 0)) parts.push(`ETA ${duration(s.etaSeconds)}`);
  return parts.join(', ');
}

function grouped(n: number): string {
  return n.toLocaleString('en-US');
}

function megabytes(bytes: number): string {
  return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
