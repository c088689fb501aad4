import type { DaemonStatus } from './status-board.js';

/**
 * What /healthz, /readyz and /livez answer. Only this process's own state can make it unhealthy or
 * not ready: a bureau that is down is reported (`bureau`), never fatal, so that an orchestrator does
 * not restart a working daemon for someone else's outage.
 */
export interface Health {
  /** /healthz: the process can work: its database answers and it is not shutting down */
  healthy: boolean;
  /** /readyz: healthy, and the runner lease is known (this daemon or another one holds it, or none does) */
  ready: boolean;
  /** why not healthy or not ready (empty when both) */
  problems: string[];
  database: { reachable: boolean; error?: string };
  /** holder: the active runner, null when none holds the lease, undefined when it could not be read */
  lease: { held: boolean; holder?: string | null };
  /** the exchange with the bureau, from the last runs: reachable null until a run tells */
  bureau: { reachable: boolean | null; problems: string[] };
  status: DaemonStatus;
}

export interface HealthInputs {
  status: DaemonStatus;
  database: { reachable: boolean; error?: string };
  leaseHeld: boolean;
  /** the lease's current holder as read from the database (null: nobody), undefined when unknown */
  leaseHolder?: string | null;
  now: Date;
  receiveEveryMinutes: number;
}

/** Receive failures in a row before the bureau is reported as a problem (one can be a network blip). */
const RECEIVE_FAILURES_REPORTED = 3;

export function evaluateHealth(input: HealthInputs): Health {
  const { status, database } = input;
  const problems: string[] = [];
  if (!database.reachable) problems.push(`database unreachable: ${database.error ?? 'no answer'}`);
  if (status.role === 'stopping') problems.push('shutting down');
  const healthy = problems.length === 0;
  if (status.role === 'starting' || (database.reachable && input.leaseHolder === undefined)) problems.push('runner lease not known yet');
  return {
    healthy, ready: problems.length === 0, problems, database,
    lease: { held: input.leaseHeld, ...(input.leaseHolder !== undefined ? { holder: input.leaseHolder } : {}) },
    bureau: bureauOf(input), status,
  };
}

/**
 * The bureau as the active runner's jobs see it: unreachable when the last run of a job failed;
 * problems when the last send failed, receive failed several times in a row, or no receive
 * succeeded for three polling intervals (30 min at least).
 */
function bureauOf(input: HealthInputs): Health['bureau'] {
  const { status } = input;
  if (status.role !== 'active') return { reachable: null, problems: [] };
  const { receive } = status.jobs;
  // each bureau's send (`send`, `send:<CODE>`): one bureau down is named, the others stay fine
  const sends = Object.entries(status.jobs).filter(([job]) => job === 'send' || job.startsWith('send:'));
  const problems: string[] = [];
  for (const [job, send] of sends) if (send.lastOutcome === 'failure') problems.push(`last ${job} failed: ${send.lastError}`);
  if (receive.consecutiveFailures >= RECEIVE_FAILURES_REPORTED) problems.push(`receive failed ${receive.consecutiveFailures} times in a row: ${receive.lastError}`);
  const staleMs = Math.max(3 * input.receiveEveryMinutes, 30) * 60_000;
  const since = Math.max(Date.parse(status.activeSince ?? '') || 0, Date.parse(receive.lastSuccessAt ?? '') || 0);
  if (input.now.getTime() - since > staleMs) problems.push(`no successful receive since ${receive.lastSuccessAt ?? status.activeSince}`);
  const last = [...sends.map(([, send]) => send.lastOutcome), receive.lastOutcome];
  const outcomes = last.filter((o) => o !== null && o !== 'aborted');
  const reachable = outcomes.length ? !last.includes('failure') : null;
  return { reachable, problems };
}
