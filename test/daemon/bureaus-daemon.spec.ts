import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBureauLayouts } from '../../src/config/bureau-layouts.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import type { Alert } from '../../src/daemon/alerts.js';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { prepareDaemon } from '../../src/daemon/service.js';
import { listRuns } from '../../src/db/runs.js';
import { canonicalId } from '../../src/domain/contract.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeProductionJobs } from '../../src/wiring.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { waitFor } from '../helpers/wait.js';
import { clearSendTables, insertCards } from '../outbound/fixtures.js';
import { filesIn, removeDir, type BureauKeys } from '../outbound/harness.js';
import { useTwoBureauServer } from '../outbound/job-harness.js';
import { manualClock, recordingAlerter, recordingReceiveJob } from './fakes.js';
import { startActive } from './scheduler-harness.js';

const cipher = new PanCipher(newPanKey());
const EMB_IN = 'emb-in';

/** A TCP server that accepts and never says a word: an SFTP server that hangs, until `drop()` cuts every connection. */
async function silentServer(): Promise<{ port: number; connections(): number; drop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => sockets.size,
    async drop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** The real send jobs alone (each bureau's receive left out). */
function sendJobsOf({ send, sendPerBureau }: ReturnType<typeof makeProductionJobs>) {
  return { send, sendPerBureau };
}

/** The contract ids of an emb-v1 file, read back by the bureau's own gpg. */
function embContracts(keys: BureauKeys, file: string): string[] {
  return keys.gpg.gpgDecrypt(file).toString('latin1').split('\r\n').filter((l) => l.startsWith('02')).map((l) => canonicalId(l.slice(88, 103)));
}

describeEachDatabase('daemon with two bureaus: each at its own cut-offs, one hanging and failing, the other delivered', (ctx) => {
  let sshd: SshdServer;
  let keys: { b1: BureauKeys; emb: BureauKeys };
  let hung: Awaited<ReturnType<typeof silentServer>>;
  let workDir: string;
  let daemon: Daemon | undefined;

  useTwoBureauServer([EMB_IN, 'emb-out'], (server) => {
    ({ sshd, keys } = server);
  });
  beforeEach(async () => {
    await clearSendTables(ctx().db);
    await ctx().db('job_runs').delete();
    for (const name of readdirSync(join(sshd.root, EMB_IN))) rmSync(join(sshd.root, EMB_IN, name), { force: true });
    hung = await silentServer();
    workDir = mkdtempSync(join(tmpdir(), 'bx-bureaus-daemon-'));
  });
  afterEach(async () => {
    // the hanging server goes first: a send still connecting to it ends, and the daemon can stop
    await hung.drop().catch(() => undefined);
    await daemon?.stop('test over');
    daemon = undefined;
    removeDir(workDir);
  });

  /** BUREAU01 (its server hangs) at 11:00; EMB01 (the real sshd) at 10:00 and 11:00. */
  function twoBureaus(): LoadedConfig {
    const config = configSchema.parse({
      issuer: { code: 'BXISSUER' }, workDir,
      calendar: { workingDays: [1, 2, 3, 4, 5, 6, 7] },
      schedule: { timezone: 'Europe/Berlin', catchUp: false, sendAt: ['17:00'] },
      bureaus: [
        {
          code: 'BUREAU01', name: 'Processor bureau', sendAt: ['11:00'],
          pgp: { bureauPublicKeyFile: keys.b1.publicKeyFile, bureauFingerprint: keys.b1.fingerprint },
          sftp: sshd.sftpConfig({ port: hung.port, readyTimeoutMs: 90_000, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } }),
        },
        {
          code: 'EMB01', layout: 'emb-v1', sendAt: ['10:00', '11:00'],
          pgp: { bureauPublicKeyFile: keys.emb.publicKeyFile, bureauFingerprint: keys.emb.fingerprint },
          sftp: sshd.sftpConfig({ inboundDir: `/${EMB_IN}`, outboundDir: '/emb-out', processedDir: '/emb-out/done', failedDir: '/emb-out/failed' }),
        },
      ],
      routing: { rules: [{ bureau: 'EMB01', when: { productCode: 'GOLD02' } }], default: 'BUREAU01' },
    });
    resolveBureauLayouts(config, process.cwd(), true);
    return { ...config, configFile: join(workDir, 'config.yaml') };
  }

  it("delivers EMB01's batch at its cut-off while BUREAU01's send hangs, then fails alone (alert, health, metrics, history name it)", async function () {
    this.timeout(120_000);
    const { db } = ctx();
    const config = twoBureaus();
    const clock = manualClock('2026-11-26T08:55:00Z'); // Thursday 09:55 Berlin
    const alerts: Alert[] = [];
    // the odd cards are BUREAU01's, the even ones (GOLD02) EMB01's
    const sendRuns = async () => (await listRuns(db)).filter((r) => r.job.startsWith('send'));
    await insertCards(db, cipher, 1, 4, (n) => ({ productCode: n % 2 === 0 ? 'GOLD02' : 'CLASSIC01' }));
    daemon = makeDaemon({
      // the receive (its own engineer's, per bureau) is not what this test is about: it would also wait on the hanging server
      db, config, log: silentLogger, clock, jobs: { ...sendJobsOf(makeProductionJobs({ config, db, cipher, log: silentLogger })), receive: recordingReceiveJob() },
      alerter: recordingAlerter(alerts), startTicker: () => ({ stop() {} }),
    });
    await startActive(daemon);

    // 10:01: EMB01's own cut-off; BUREAU01 has none before 11:00
    clock.set('2026-11-26T09:01:00Z');
    daemon.scheduler.tick();
    await daemon.scheduler.settled();
    assert.deepEqual(filesIn(join(sshd.root, EMB_IN)), ['BXISSUER_EMB_20261126_000001.txt.pgp']);
    assert.deepEqual(embContracts(keys.emb, join(sshd.root, EMB_IN, 'BXISSUER_EMB_20261126_000001.txt.pgp')), ['1002', '1004']);
    assert.deepEqual((await sendRuns()).map((r) => [r.job, r.outcome]), [['send:EMB01', 'ok']]);
    assert.equal(hung.connections(), 0, 'BUREAU01 was not sent to at EMB01\'s cut-off');

    // 11:01: both bureaus' cut-off; BUREAU01's server hangs, EMB01's batch goes all the same
    await insertCards(db, cipher, 5, 4, (n) => ({ productCode: n % 2 === 0 ? 'GOLD02' : 'CLASSIC01' }));
    clock.set('2026-11-26T10:01:00Z');
    daemon.scheduler.tick();
    await waitFor('EMB01\'s second file', () => filesIn(join(sshd.root, EMB_IN)).length === 2, 120_000);
    await waitFor('EMB01\'s run recorded', async () => (await listRuns(db, { job: 'send:EMB01' })).filter((r) => r.outcome === 'ok').length === 2, 60_000);
    // BUREAU01's send claims and encrypts first, then connects: it may reach its server only now
    await waitFor("BUREAU01's send at its hanging server", () => hung.connections() === 1, 60_000);
    assert.equal(daemon.status().jobs.send!.running, true, "BUREAU01's send is still hanging");
    assert.deepEqual(embContracts(keys.emb, join(sshd.root, EMB_IN, 'BXISSUER_EMB_20261126_000002.txt.pgp')), ['1006', '1008']);

    // BUREAU01's server drops the connection: its send fails, alone
    await hung.drop();
    await daemon.scheduler.settled();
    const runs = await sendRuns();
    assert.deepEqual(runs.map((r) => [r.job, r.reason, r.outcome]).sort(), [
      ['send', 'cut-off 11:00', 'failed'], ['send:EMB01', 'cut-off 10:00', 'ok'], ['send:EMB01', 'cut-off 11:00', 'ok'],
    ]);
    const failure = alerts.filter((a) => a.kind === 'failure');
    assert.equal(failure.length, 1);
    assert.match(failure[0]!.message, /^send run \(cut-off 11:00\) for bureau BUREAU01 \(Processor bureau\) failed: /);
    assert.equal(failure[0]!.details!.bureau, 'BUREAU01');
    const health = await daemon.health();
    assert.equal(health.bureau.reachable, false);
    assert.deepEqual(health.bureau.problems.map((p) => p.split(':')[0]), ['last send failed']);
    assert.equal(health.status.jobs['send:EMB01']!.lastOutcome, 'success');

    const metrics = await daemon.metrics.registry.metrics();
    assert.match(metrics, /^bx_files_sent_total\{bureau="EMB01"\} 2$/m);
    assert.match(metrics, /^bx_cards_sent_total\{bureau="EMB01"\} 4$/m);
    assert.match(metrics, /^bx_job_runs_total\{job="send",bureau="BUREAU01",outcome="failure"\} 1$/m);
    assert.match(metrics, /^bx_job_runs_total\{job="send",bureau="EMB01",outcome="success"\} 2$/m);
    assert.doesNotMatch(metrics, /^bx_files_sent_total\{bureau="BUREAU01"\} [1-9]/m);
    const unsent = [...metrics.matchAll(/^bx_batches_unsent\{bureau="(\w+)",state="(\w+)"\} (\d+)$/gm)].filter((m) => m[3] !== '0').map((m) => m[1]);
    assert.deepEqual(unsent, ['BUREAU01'], "BUREAU01's batch waits, no other");

    // BUREAU01's cards wait in its unsent batch for its next send; EMB01's are InProduction
    const batches = await db('perso_batches').orderBy('id').select('bureau_code', 'state');
    assert.deepEqual(batches.filter((b) => b.bureau_code === 'BUREAU01').map((b) => b.state === 'sent'), [false]);
    assert.deepEqual(batches.filter((b) => b.bureau_code === 'EMB01').map((b) => b.state), ['sent', 'sent']);
    const inProduction = await db('card_contracts').where({ production_status: 'InProduction' }).orderBy('contract_number').pluck('contract_number');
    assert.deepEqual(inProduction, ['1002', '1004', '1006', '1008']);
  });
});

describe('daemon start with two bureaus', () => {
  it("refuses to start when another bureau than the first lacks its server, host key pin or OpenPGP key, naming it", async () => {
    const base = { bureauPublicKeyFile: '/k.asc', bureauFingerprint: 'AB'.repeat(20) };
    const sftp = { host: 'sftp.example', username: 'bx', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
    const config = configSchema.parse({
      issuer: { code: 'BXISSUER' }, database: { migrateOnStart: false }, routing: { default: 'BUREAU01' },
      bureaus: [
        { code: 'BUREAU01', pgp: base, sftp },
        { code: 'EMB01', layout: 'emb-v1', pgp: base, sftp: { ...sftp, host: undefined, inboundDir: '/emb-in', outboundDir: '/emb-out' } },
      ],
    });
    resolveBureauLayouts(config, process.cwd(), true);
    await assert.rejects(prepareDaemon({ config: { ...config, configFile: '/x.yaml' }, log: silentLogger } as never),
      /config key sftp\.host is required for the daemon's sends to bureau EMB01/);
  });
});
