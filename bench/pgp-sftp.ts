/**
 * OpenPGP encryption and SFTP upload throughput, each against the tool a sysadmin would use, in
 * the same run: encryptStream vs `gpg --encrypt -z0`, uploadAtomic vs OpenSSH `sftp put` (loopback
 * sshd from the test helpers), and encryptStream piped straight into uploadAtomic (the send path).
 *
 *   npx tsx bench/pgp-sftp.ts [--mb 200] [--runs 3]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { encryptStream, loadRecipientKey } from '../src/crypto/pgp.js';
import { silentLogger } from '../src/log.js';
import { withSession } from '../src/transport/remote.js';
import { makeSftpTransport } from '../src/transport/sftp.js';
import { createGpgHome } from '../test/helpers/gpg.js';
import { startSshd } from '../test/helpers/sshd.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MB = option('mb', 200);
const RUNS = option('runs', 3);

interface Measure { seconds: number; cpuSeconds?: number; peakRssMb?: number; baselineMb?: number }

/** Our steps run in a fresh process each, so that their peak RSS is theirs alone. */
interface Step { step: 'encryptInline' | 'upload' | 'encryptInlineAndUpload'; clear: string; encrypted: string; pubFile: string; fpr: string; sftp: unknown; remoteName: string; size: number }

async function runStep(step: Step): Promise<Measure> {
  const { key } = await loadRecipientKey(step.pubFile, step.fpr, { warnDays: 0, log: silentLogger, purpose: 'bureau' });
  const transport = makeSftpTransport(step.sftp as Parameters<typeof makeSftpTransport>[0], { log: silentLogger });
  const baselineMb = Math.round(process.resourceUsage().maxRSS / 1024);
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const encrypt = () => encryptStream(createReadStream(step.clear), { recipients: [key], armor: false });
  if (step.step === 'encryptInline') await pipeline(encrypt(), createWriteStream(step.encrypted));
  if (step.step === 'upload') await withSession(transport, (s) => s.uploadAtomic(step.encrypted, '/inbound', step.remoteName, step.size));
  if (step.step === 'encryptInlineAndUpload') await withSession(transport, (s) => s.uploadAtomic(encrypt(), '/inbound', step.remoteName, step.size));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), baselineMb };
}

function inChild(step: Step): Measure {
  const run = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--child', JSON.stringify(step)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`step ${step.step} failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-pgp-'));
  const gpg = createGpgHome();
  const server = await startSshd();
  try {
    const fpr = gpg.generateKey('Bench bureau <bench@example.test>', { algo: 'rsa3072' });
    const pubFile = gpg.exportPublicKey(fpr);
    const clear = join(dir, 'clear.dat');
    writeClearFile(clear, MB);
    const ours = join(dir, 'ours.pgp');
    const theirs = join(dir, 'gpg.pgp');
    let n = 0;
    const base = { clear, encrypted: ours, pubFile, fpr, sftp: server.sftpConfig(), size: 0 };
    const results: Record<string, Measure[]> = { encryptInline: [], encryptGpg: [], uploadOurs: [], uploadSftp: [], encryptInlineAndUpload: [] };
    for (let run = 0; run < RUNS; run++) {
      results.encryptInline!.push(inChild({ ...base, step: 'encryptInline', remoteName: '' }));
      results.encryptGpg!.push(gpgEncrypt(gpg.home, pubFile, clear, theirs));
      const size = statSync(ours).size;
      results.uploadOurs!.push(inChild({ ...base, size, step: 'upload', remoteName: `ours-${++n}.pgp` }));
      results.uploadSftp!.push(sftpPut(server, ours, `/inbound/sftp-${++n}.pgp`));
      results.encryptInlineAndUpload!.push(inChild({ ...base, size, step: 'encryptInlineAndUpload', remoteName: `piped-${++n}.pgp` }));
      cleanRemote(server.root);
      unlinkSync(theirs);
    }
    results.shellSum = results.encryptGpg!.map((m, i) => ({ seconds: m.seconds + results.uploadSftp![i]!.seconds, cpuSeconds: m.cpuSeconds! + results.uploadSftp![i]!.cpuSeconds! }));
    report(results, statSync(ours).size);
  } finally {
    await server.stop();
    gpg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fixed-width 450-byte records, like the personalization file (distinct record numbers). */
function writeClearFile(file: string, mb: number): void {
  const fd = openSync(file, 'w');
  const recordsPerBlock = 2000;
  const total = Math.ceil((mb * 1024 * 1024) / 451);
  for (let start = 0; start < total; start += recordsPerBlock) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(total, start + recordsPerBlock); i++) {
      lines.push(`D${String(i % 1e7).padStart(7, '0')}${String(1e9 + i).padStart(15, '0')}${'JANE DOE'.padEnd(427, ' ')}\n`.slice(0, 451));
    }
    writeSync(fd, lines.join(''));
  }
  closeSync(fd);
}

/** Wall and CPU time of an external command, from /usr/bin/time. */
function timed(command: string, argv: string[], input?: string): Measure {
  const run = spawnSync('/usr/bin/time', ['-f', 'BXTIME %e %U %S', command, ...argv], { input, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (run.status !== 0) throw new Error(`${command} failed: ${run.stderr}`);
  const [, wall, user, sys] = /BXTIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(run.stderr)!;
  return { seconds: Number(wall), cpuSeconds: Number(user) + Number(sys) };
}

function gpgEncrypt(home: string, pubFile: string, clear: string, out: string): Measure {
  return timed('gpg', ['--homedir', home, '--batch', '--yes', '--no-tty', '--compress-level', '0', '--trust-model', 'always', '--recipient-file', pubFile, '--output', out, '--encrypt', clear]);
}

function sftpPut(server: Awaited<ReturnType<typeof startSshd>>, local: string, remote: string): Measure {
  return timed('sftp', ['-q', '-b', '-', '-i', server.privateKeyFile, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-P', String(server.port), `${server.username}@${server.host}`], `put ${local} ${remote}\n`);
}

function cleanRemote(root: string): void {
  rmSync(join(root, 'inbound'), { recursive: true, force: true });
  execFileSync('install', ['-d', '-o', 'nobody', '-g', 'nogroup', '-m', '755', join(root, 'inbound')]);
}

function report(results: Record<string, Measure[]>, encryptedBytes: number): void {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const row = (label: string, key: string, mb: number) => {
    const s = median(results[key]!.map((m) => m.seconds));
    const peak = Math.max(...results[key]!.map((m) => m.peakRssMb ?? 0));
    const baseline = Math.max(...results[key]!.map((m) => m.baselineMb ?? 0));
    const cpu = median(results[key]!.map((m) => m.cpuSeconds ?? 0));
    return `| ${label} | ${s.toFixed(2)} s | ${(mb / s).toFixed(0)} MB/s | ${cpu.toFixed(2)} s | ${(mb / cpu).toFixed(0)} MB/s | ${peak ? `${peak} MB (${baseline} MB before)` : '–'} |`;
  };
  const encMb = encryptedBytes / 1048576;
  console.log(`\n${MB} MiB clear (450-byte records), ${encMb.toFixed(0)} MiB encrypted, RSA-3072 recipient, median of ${RUNS}, node ${process.version}, ${new Date().toISOString()}\n`);
  console.log('| step | wall | wall rate | CPU (user+sys, client side) | per CPU-second | peak RSS of our process |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(row('encryptStream (openpgp, binary, SEIPDv1, no compression)', 'encryptInline', MB));
  console.log(row('`gpg --encrypt -z0` (GnuPG 2.2)', 'encryptGpg', MB));
  console.log(row('uploadAtomic of the encrypted file (ssh2-sftp-client, noDelay)', 'uploadOurs', encMb));
  console.log(row('OpenSSH `sftp put` of the same file', 'uploadSftp', encMb));
  console.log(row('encryptStream piped into uploadAtomic (the send path)', 'encryptInlineAndUpload', MB));
  console.log(row('shell: `gpg --encrypt -z0` then `sftp put` (sum of the two rows above)', 'shellSum', MB));
}

const childIndex = args.indexOf('--child');
if (childIndex >= 0) console.log(JSON.stringify(await runStep(JSON.parse(args[childIndex + 1]!))));
else await main();
