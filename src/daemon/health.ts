import type { DaemonStatus } from './status-board.js';

export interface Health {
  healthy: boolean;
  /** why not healthy (empty when healthy) */
  problems: string[];
  database: { reachable: boolean; error?: string };
  lease: { held: boolean };
  status: DaemonStatus;
}

export interface HealthInputs {
  status: DaemonStatus;
  database: { reachable: boolean; error?: string };
  leaseHeld: boolean;
  now: Date;
  receiveEveryMinutes: number;
}

/** Receive failures in a row before the daemon reports itself unhealthy (one can be a network blip). */
const RECEIVE_FAILURES_UNHEALTHY = 3;

/**
 * Healthy: the database answers and, when active, the jobs work. A standby with a reachable database
 * is healthy (it is ready to take over). Unhealthy when active and the last send failed, receive
 * failed several times in a row, or no receive succeeded for three polling intervals (30 min at least).
 */
export function evaluateHealth(input: HealthInputs): Health {
  const { status, database } = input;
  const problems: string[] = [];
  if (!database.reachable) problems.push(`database unreachable: ${database.error ?? 'no answer'}`);
  if (status.role === 'stopping') problems.push('shutting down');
  if (status.role === 'active') {
    const { send, receive } = status.jobs;
    if (send.lastOutcome === 'failure') problems.push(`last send failed: ${send.lastError}`);
    if (receive.consecutiveFailures >= RECEIVE_FAILURES_UNHEALTHY) problems.push(`receive failed ${receive.consecutiveFailures} times in a row: ${receive.lastError}`);
    const staleMs = Math.max(3 * input.receiveEveryMinutes, 30) * 60_000;
    const since = Math.max(Date.parse(status.activeSince ?? '') || 0, Date.parse(receive.lastSuccessAt ?? '') || 0);
    if (input.now.getTime() - since > staleMs) problems.push(`no successful receive since ${receive.lastSuccessAt ?? status.activeSince}`);
  }
  return { healthy: problems.length === 0, problems, database, lease: { held: input.leaseHeld }, status };
}
