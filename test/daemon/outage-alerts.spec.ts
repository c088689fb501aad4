import assert from 'node:assert/strict';
import type { Alert } from '../../src/daemon/alerts.js';
import { causeOf } from '../../src/daemon/alerts.js';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { TransientError } from '../../src/errors.js';
import type { ReceiveJob } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { createTestDatabase } from '../helpers/db.js';
import { emptyReceive, manualClock, recordingAlerter, recordingSendJob } from './fakes.js';
import { startActive } from './scheduler-harness.js';

describe('alerts per outage, not per failed run', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let daemon: Daemon;
  const alerts: Alert[] = [];
  const clock = manualClock('2026-11-28T09:00:00Z'); // a Saturday: receive polls only
  let failWith: Error | undefined;
  let receiveRuns = 0;
  const receive: ReceiveJob = {
    async run() {
      receiveRuns++;
      if (failWith) throw failWith;
      return emptyReceive();
    },
  };
  const refused = (attempts: number) => new TransientError(`SFTP connection to 10.1.2.3:22 failed after ${attempts} attempts: connect ECONNREFUSED 10.1.2.3:22`);

  /** the next receive poll (every 15 minutes), with its alerts sent */
  async function poll(): Promise<void> {
    const runs = receiveRuns;
    clock.advance(15 * 60_000);
    daemon.scheduler.tick();
    await daemon.scheduler.settled();
    assert.equal(receiveRuns, runs + 1, 'a poll ran');
    await new Promise((r) => setTimeout(r, 50)); // alerts go out in the background
  }
  const ofKind = (kind: string) => alerts.filter((a) => a.kind === kind);

  before(async () => {
    database = await createTestDatabase('sqlite');
    daemon = makeDaemon({
      db: database.db, config: testConfig({ schedule: { catchUp: false } }), log: silentLogger, clock, alerter: recordingAlerter(alerts),
      // the lease is renewed every 20 s of real time: never during this test, whose clock jumps by hours
      jobs: { send: recordingSendJob(), receive }, startTicker: () => ({ stop() {} }),
    });
    await startActive(daemon);
  });

  after(async () => {
    await daemon?.stop('test over');
    await database?.drop();
  });

  it('the same cause counts once, whatever numbers its message carries', () => {
    assert.equal(causeOf(refused(3)), causeOf(refused(5)));
    assert.notEqual(causeOf(refused(3)), causeOf(new TransientError('all authentication methods failed')));
  });

  it('a bureau down for several polls raises one critical alert; the daemon stays healthy and ready', async () => {
    failWith = refused(5);
    for (let i = 0; i < 4; i++) {
      failWith = refused(5 + i);
      await poll();
    }
    assert.equal(ofKind('failure').length, 1, JSON.stringify(alerts));
    assert.equal(ofKind('failure')[0]!.severity, 'critical');
    assert.match(ofKind('failure')[0]!.message, /receive run \(poll\) failed: SFTP connection to 10\.1\.2\.3:22/);
    const health = await daemon.health();
    assert.equal(health.healthy, true, health.problems.join('; '));
    assert.equal(health.ready, true, health.problems.join('; '));
    assert.equal(health.bureau.reachable, false);
    assert.match(health.bureau.problems.join('\n'), /receive failed 4 times in a row: SFTP connection/);
  });

  it('a new cause during the outage raises one more alert', async () => {
    failWith = new TransientError('all authentication methods failed');
    await poll();
    await poll();
    assert.equal(ofKind('failure').length, 2);
    assert.match(ofKind('failure')[1]!.message, /authentication methods failed/);
  });

  it('the first success ends the outage with one resolved alert', async () => {
    failWith = undefined;
    await poll();
    await poll();
    const resolved = ofKind('resolved');
    assert.equal(resolved.length, 1);
    assert.equal(resolved[0]!.severity, 'info');
    assert.match(resolved[0]!.message, /^receive works again after 6 failed run\(s\) since 2026-11-28T09:15:00\.000Z$/);
    assert.equal((resolved[0]!.details as any).causes.length, 2);
    assert.equal((await daemon.health()).bureau.reachable, true);
  });

  it('the next failure opens a new outage and alerts again', async () => {
    failWith = refused(5);
    await poll();
    assert.equal(ofKind('failure').length, 3);
  });
});
