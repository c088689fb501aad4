/**
 * Sandbox benchmark: (1) the whole demo exchange end to end for several card counts, each in its own
 * child process (time per step, peak RSS); (2) upload throughput of our SFTP transport into the
 * sandbox SFTP server, and into OpenSSH sshd for comparison when it can run here (root).
 *
 * (3) the sandbox bureau alone answering one file of N records (child process: time, peak RSS).
 *
 *   node --import tsx bench/sandbox.ts [--cards 1000,10000,100000] [--upload-mb 200] [--bureau-records 100000]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { encryptStream, loadPrivateKey, loadRecipientKey } from '../src/crypto/pgp.js';
import { silentLogger } from '../src/log.js';
import { loadLayout, renderPersoFile } from '../src/perso/index.js';
import { makeBureauSimulator } from '../src/sandbox/bureau.js';
import { loadBureauSettings } from '../src/sandbox/settings.js';
import { makeCard } from '../test/helpers/cards.js';
import { runDemo } from '../src/sandbox/demo.js';
import { initSandbox } from '../src/sandbox/init.js';
import { startSandbox } from '../src/sandbox/serve.js';
import { withSession } from '../src/transport/remote.js';
import { makeSftpTransport } from '../src/transport/sftp.js';
import { loadSandboxConfig } from '../test/sandbox/helpers.js';
import { sshdAvailable, startSshd } from '../test/helpers/sshd.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const argValue = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};

if (process.argv[2] === '--child') await demoChild(Number(process.argv[3]));
else if (process.argv[2] === '--bureau-child') await bureauChild(Number(process.argv[3]));
else await main();

async function main(): Promise<void> {
  const counts = (argValue('--cards') ?? '1000,10000,100000').split(',').map(Number);
  const uploadMb = Number(argValue('--upload-mb') ?? 200);
  const bureauRecords = Number(argValue('--bureau-records') ?? 100_000);
  console.log('demo end to end (child process per run)');
  for (const cards of counts) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(HERE, 'sandbox.ts'), '--child', String(cards)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (run.status !== 0) throw new Error(`demo with ${cards} cards failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split('\n').pop()!);
    const steps = Object.entries(r.steps as Record<string, number>).map(([k, v]) => `${k} ${v.toFixed(2)}s`).join(', ');
    console.log(`  ${cards.toLocaleString('en')} cards: ${r.seconds.toFixed(2)} s total, peak RSS ${r.maxRssMb} MB, ok=${r.ok} (${steps})`);
  }
  console.log(`upload of ${uploadMb} MB through our SFTP transport (uploadAtomic, noDelay)`);
  console.log(`  sandbox server (ssh2): ${(await uploadToSandbox(uploadMb)).toFixed(0)} MB/s`);
  if (sshdAvailable()) console.log(`  OpenSSH sshd:          ${(await uploadToSshd(uploadMb)).toFixed(0)} MB/s`);
  const bureau = spawnSync(process.execPath, ['--import', 'tsx', join(HERE, 'sandbox.ts'), '--bureau-child', String(bureauRecords)], { encoding: 'utf8' });
  if (bureau.status !== 0) throw new Error(`bureau run failed: ${bureau.stderr}`);
  console.log(`sandbox bureau alone: ${bureau.stdout.trim().split('\n').pop()}`);
}

/** Renders and encrypts an N-record file, then times the bureau's answer to it (peak RSS before and after). */
async function bureauChild(records: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-bureau-'));
  try {
    const sandbox = await initSandbox(join(dir, 'sbx'));
    const config = loadSandboxConfig(sandbox.configFile);
    const layout = loadLayout('perso-v1');
    const { key } = await loadRecipientKey(config.pgp.bureauPublicKeyFile!, config.pgp.bureauFingerprint, { warnDays: 0, log: silentLogger, purpose: 'bureau' });
    const signingKey = await loadPrivateKey(config.pgp.sign.privateKeyFile!, undefined);
    const cards = (function* () {
      for (let i = 1; i <= records; i++) yield { ...makeCard(i), id: i };
    })();
    const ctx = { issuerCode: 'BXISSUER', bureauCode: 'BUREAU01', businessDate: '2026-11-25', sequence: 1, createdAt: new Date(), environment: 'T' as const, lineEnding: 'LF' as const };
    await pipeline(encryptStream(renderPersoFile(layout, ctx, cards), { recipients: [key], signingKey, armor: false }),
      createWriteStream(join(sandbox.inbound, 'BXISSUER_PERSO_20261125_000001.dat.pgp')));
    const rssBefore = Math.round(process.resourceUsage().maxRSS / 1024);
    const simulator = makeBureauSimulator({
      config, sftpRoot: sandbox.sftpRoot, keysDir: sandbox.keysDir, stateFile: join(sandbox.dir, 'bureau-state.json'),
      settings: loadBureauSettings(sandbox.settingsFile), log: silentLogger,
    });
    const t0 = performance.now();
    const [answer] = await simulator.answerNewFiles();
    const seconds = (performance.now() - t0) / 1000;
    const rssAfter = Math.round(process.resourceUsage().maxRSS / 1024);
    console.log(`${records.toLocaleString('en')} records answered in ${seconds.toFixed(2)} s (${Math.round(records / seconds).toLocaleString('en')} records/s), `
      + `accepted=${answer?.accepted}, peak RSS ${rssBefore} MB before, ${rssAfter} MB after`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function demoChild(cards: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-demo-'));
  const marks: Array<[string, number]> = [];
  const started = performance.now();
  try {
    const outcome = await runDemo({ cards, dir: join(dir, 'sbx'), progress: (s) => marks.push([s.slice(1, 4), performance.now()]) });
    const end = performance.now();
    const names = ['init', 'import', 'send', 'bureau', 'receive', 'check'];
    const steps = Object.fromEntries(marks.map(([, t], i) => [names[i], ((marks[i + 1]?.[1] ?? end) - t) / 1000]));
    const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    console.log(JSON.stringify({ seconds: (end - started) / 1000, maxRssMb, ok: outcome.ok, steps }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timedUpload(transport: ReturnType<typeof makeSftpTransport>, file: string, mb: number): Promise<number> {
  const t0 = performance.now();
  await withSession(transport, (s) => s.uploadAtomic(file, '/inbound', `BENCH_${Date.now()}.bin`, mb * 1024 * 1024));
  return mb / ((performance.now() - t0) / 1000);
}

function randomFile(dir: string, mb: number): string {
  const file = join(dir, 'upload.bin');
  writeFileSync(file, randomBytes(mb * 1024 * 1024));
  return file;
}

async function uploadToSandbox(mb: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-sftp-'));
  try {
    const sandbox = await initSandbox(join(dir, 'sbx'));
    const config = loadSandboxConfig(sandbox.configFile);
    const running = await startSandbox(config, { log: silentLogger, poll: false });
    try {
      return await timedUpload(makeSftpTransport(config.sftp, { log: silentLogger }), randomFile(dir, mb), mb);
    } finally {
      await running.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function uploadToSshd(mb: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-sftp-'));
  const sshd = await startSshd();
  try {
    return await timedUpload(makeSftpTransport(sshd.sftpConfig(), { log: silentLogger }), randomFile(dir, mb), mb);
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
