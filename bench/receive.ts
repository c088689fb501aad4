/**
 * Receive benchmark: a report of 100,000 shipment records, RSA-2048 encrypted.
 *   npx tsx bench/receive.ts [records]      (BX_BENCH_DIALECTS=sqlite,pg by default; BX_BENCH_HEAP_MB=64 caps the receive path's heap)
 * The parent prepares (key, report, seeded databases); a child process runs only the receive path
 * (decrypt → parse → apply) so its peak RSS is the receive path's. Measured: RSA decryption against
 * `openssl speed rsa2048` × 214 bytes × cores in the same run, parse + apply time per database.
 * CPU seconds are printed beside wall time: on a shared machine wall time alone misleads.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { decryptRsaFile, encryptRsaReport, loadRsaPrivateKey } from '../src/crypto/rsa.js';
import type { Config } from '../src/config/schema.js';
import { openDatabase, type Dialect } from '../src/db/connection.js';
import { applyReportFile } from '../src/inbound/apply-report.js';
import { readReportHeader } from '../src/inbound/parse-report.js';
import { reportXmlChunks } from '../src/inbound/report-format.js';
import { silentLogger } from '../src/log.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { header, rsaKeyPair, shipment } from '../test/inbound/fixtures.js';
import { seedBatch } from '../test/inbound/seed.js';

const SOURCE_FILE = 'BXISSUER_PERSO_20261125_000001.dat.pgp';
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const cpuSeconds = (from: NodeJS.CpuUsage) => { const u = process.cpuUsage(from); return (u.user + u.system) / 1e6; };
const mb = (bytes: number) => bytes / 1e6;

interface ChildInput { keyFile: string; encrypted: string; dir: string; databases: Array<{ dialect: Dialect; database: Config['database'] }>; opsPerCore: number; multiOps: number }

/** openssl's own figure: private (sign) operations per second, per core (CPU time) or all cores (-elapsed -multi). */
function opensslSignsPerSecond(multi?: number): number {
  const args = multi ? ['speed', '-elapsed', '-multi', String(multi), '-seconds', '3', 'rsa2048'] : ['speed', '-seconds', '3', 'rsa2048'];
  const out = execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const line = out.split('\n').filter((l) => /^rsa\s+2048 bits/.test(l)).pop();
  if (!line) throw new Error(`unexpected openssl speed output:\n${out}`);
  return Number(line.trim().split(/\s+/)[5]);
}

async function prepare(records: number, dialects: Dialect[]): Promise<void> {
  const cores = availableParallelism();
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-receive-'));
  const dbs: Array<Awaited<ReturnType<typeof createTestDatabase>>> = [];
  try {
    const keys = rsaKeyPair(dir, 'bench');
    const cards = Array.from({ length: records }, (_, i) => 100_000 + i);
    const shipments = cards.map((n, i) => shipment(n, { shipped: '2026-11-26', sequence: i + 1 }));
    const encrypted = join(dir, 'report.xml.rsa');
    let t0 = process.hrtime.bigint();
    await pipeline(encryptRsaReport(Readable.from(reportXmlChunks({ header: header(SOURCE_FILE), shipments })), keys.publicPem), createWriteStream(encrypted));
    console.log(`report: ${records} shipments, ${mb(statSync(encrypted).size).toFixed(1)} MB encrypted (made in ${seconds(t0).toFixed(1)} s)`);
    for (const dialect of dialects) {
      const test = await createTestDatabase(dialect);
      dbs.push(test);
      await seedBatch(test.db, cards, { fileName: SOURCE_FILE });
      await test.db.destroy();
    }
    const opsPerCore = opensslSignsPerSecond();
    const multiOps = opensslSignsPerSecond(cores);
    console.log(`openssl speed rsa2048: ${opsPerCore.toFixed(0)} private ops/s per core (CPU time) → ${mb(opsPerCore * 214 * cores).toFixed(2)} MB/s on ${cores} cores; ` +
      `-elapsed -multi ${cores} now: ${multiOps.toFixed(0)} ops/s = ${mb(multiOps * 214).toFixed(2)} MB/s wall`);
    const input: ChildInput = { keyFile: keys.keyFile, encrypted, dir, databases: dbs.map((d) => ({ dialect: d.dialect, database: d.database })), opsPerCore, multiOps };
    // BX_BENCH_HEAP_MB caps the child's V8 heap: the receive path must fit whatever the report size
    const heap = process.env.BX_BENCH_HEAP_MB ? [`--max-old-space-size=${process.env.BX_BENCH_HEAP_MB}`] : [];
    const child = spawnSync(process.execPath, [...heap, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(input)], { stdio: 'inherit' });
    if (child.status !== 0) throw new Error(`benchmark child failed (${child.status ?? child.signal})`);
  } finally {
    for (const d of dbs) await d.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** utime + stime of a local process (the PostgreSQL backend serving our connection), from /proc. */
function backendCpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100)
}

/** The receive path alone: decrypt with worker threads, then parse + apply per database. */
async function measure(input: ChildInput): Promise<void> {
  const cores = availableParallelism();
  const clearFile = join(input.dir, 'report.xml');
  let t0 = process.hrtime.bigint();
  let cpu = process.cpuUsage();
  const { clearBytes } = await decryptRsaFile(input.encrypted, { key: loadRsaPrivateKey(input.keyFile), destination: clearFile, maxBytes: 1e9, workers: 0 });
  const wall = seconds(t0);
  const used = cpuSeconds(cpu);
  const limit = input.opsPerCore * 214 * cores;
  console.log(`decrypt: ${wall.toFixed(1)} s wall = ${mb(clearBytes / wall).toFixed(2)} MB/s clear = ${((clearBytes / wall / limit) * 100).toFixed(0)}% of openssl × ${cores} cores, ` +
    `${((clearBytes / wall / (input.multiOps * 214)) * 100).toFixed(0)}% of openssl -multi measured now`);
  console.log(`decrypt CPU: ${used.toFixed(1)} s in all threads = ${mb(clearBytes / used).toFixed(2)} MB/s per busy core = ${((clearBytes / used / (input.opsPerCore * 214)) * 100).toFixed(0)}% of openssl per core`);
  const read = { maxBytes: 1e9, issuer: 'BXISSUER', bureau: 'BUREAU01' };
  const sha256 = createHash('sha256');
  for await (const chunk of createReadStream(input.encrypted)) sha256.update(chunk as Buffer);
  const digest = sha256.digest('hex');
  for (const { dialect, database } of input.databases) {
    // one connection, so the PostgreSQL backend doing the work is the one we measure
    const db = openDatabase({ database: { ...database, pool: { min: 1, max: 1 } } });
    try {
      const backend = dialect === 'pg' ? Number((await db.raw('select pg_backend_pid() as pid')).rows[0].pid) : undefined;
      const serverCpuBefore = backendCpuSeconds(backend);
      t0 = process.hrtime.bigint();
      cpu = process.cpuUsage();
      const h = await readReportHeader(clearFile, read);
      const { counts } = await applyReportFile(db, { clearFile, header: h, remoteName: 'bench.xml.rsa', sha256: digest, clearSha256: digest, kind: 'rsa', localPath: input.encrypted },
        { read, log: silentLogger, now: new Date().toISOString() });
      const server = backend ? `, ${(backendCpuSeconds(backend)! - serverCpuBefore!).toFixed(1)} s CPU in the PostgreSQL backend` : '';
      console.log(`parse + apply on ${dialect}: ${seconds(t0).toFixed(2)} s wall, ${cpuSeconds(cpu).toFixed(1)} s CPU in node${server} (${counts.shipments} shipments applied, ${counts.anomalies} anomalies)`);
    } finally {
      await db.destroy();
    }
  }
  console.log(`peak RSS of the receive path: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
}

if (process.argv[2] === '--child') await measure(JSON.parse(process.argv[3]!) as ChildInput);
else await prepare(Number(process.argv[2] ?? 100_000), (process.env.BX_BENCH_DIALECTS ?? 'sqlite,pg').split(',') as Dialect[]);
