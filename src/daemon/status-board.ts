import { messageOf } from '../errors.js';
import type { RunRecord } from './job-runner.js';
import { outcomeOf } from './metrics.js';

/** The last runs of one job, for /healthz. */
export interface JobStatus {
  running: boolean;
  lastRunAt: string | null;
  lastOutcome: 'success' | 'partial' | 'failure' | 'aborted' | null;
  lastSuccessAt: string | null;
  /** the last failure, PAN-safe; cleared by a success */
  lastError: string | null;
  /** failures in a row */
  consecutiveFailures: number;
}

export type Role = 'starting' | 'standby' | 'active' | 'stopping';

export interface DaemonStatus {
  role: Role;
  owner: string;
  /** when this daemon last became the active runner */
  activeSince: string | null;
  /** `send` is the first bureau's send, `send:<CODE>` another bureau's */
  jobs: { send: JobStatus; receive: JobStatus; [job: string]: JobStatus };
}

const emptyJob = (): JobStatus => ({ running: false, lastRunAt: null, lastOutcome: null, lastSuccessAt: null, lastError: null, consecutiveFailures: 0 });

/** The daemon's view of itself, updated by the runners, read by /healthz. */
export class StatusBoard {
  private readonly state: DaemonStatus;

  constructor(owner: string) {
    this.state = { role: 'starting', owner, activeSince: null, jobs: { send: emptyJob(), receive: emptyJob() } };
  }

  setRole(role: Role, at: Date): void {
    if (role === 'active' && this.state.role !== 'active') this.state.activeSince = at.toISOString();
    if (role !== 'active') this.state.activeSince = null;
    this.state.role = role;
  }

  finished(job: string, record: RunRecord<unknown>): void {
    const s = (this.state.jobs[job] ??= emptyJob());
    const outcome = outcomeOf(record as RunRecord<never>);
    s.running = false;
    s.lastRunAt = record.startedAt.toISOString();
    s.lastOutcome = outcome;
    if (outcome === 'success' || outcome === 'partial') {
      s.lastSuccessAt = record.finishedAt.toISOString();
      s.lastError = null;
      s.consecutiveFailures = 0;
    } else if (outcome === 'failure') {
      s.lastError = messageOf(record.error);
      s.consecutiveFailures++;
    }
  }

  /** a copy, with whether each job is running now (every job named has an entry, run or not) */
  snapshot(running: Record<string, boolean>): DaemonStatus {
    const copy = structuredClone(this.state);
    for (const [job, busy] of Object.entries(running)) (copy.jobs[job] ??= emptyJob()).running = busy;
    return copy;
  }
}
