/**
 * Perso rendering benchmark: N contracts (default 1,000,000) from an async iterable (as the database
 * yields them) → renderPersoFile → bytes counted and dropped. The contracts cycle through a pool of
 * 20,000 distinct ones built beforehand (unique last names, streets and PANs; a share with accented
 * names), so the figure is rendering, not the making of test data. Prints wall and CPU time, the cost
 * of the bare async iteration (the source) for comparison, and memory at 100k and at the end.
 *
 *   npx tsx bench/perso.ts [records] [--accented PERCENT]
 */
import { cpus, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContractForPerso } from '../src/domain/contract.js';
import { loadLayout, renderPersoFile } from '../src/perso/index.js';

const args = process.argv.slice(2);
const total = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const accentedAt = args.indexOf('--accented');
const accentedPercent = accentedAt >= 0 ? Number(args[accentedAt + 1]) : 10;
const POOL_SIZE = 20_000;

function luhnComplete(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + ((10 - (sum % 10)) % 10);
}

const FIRST = ['Jane', 'John Jacob', 'Maria', 'Ahmed', 'Li', 'Olga', 'Pierre-Louis', 'Anne Marie'];
const LAST = ['Doe', 'Smith', "O'Brien", 'Garcia Lopez', 'Nguyen', 'Kowalski', 'van der Berg', 'Schmidt'];
const ACCENTED_FIRST = ['Jürgen', 'Åsa', 'Łukasz', 'Zoë', 'José'];
const ACCENTED_LAST = ['Müller', 'Øvergård', 'Wałęsa', 'Núñez', 'Straße'];

function makeContract(n: number): ContractForPerso {
  const accented = n % 100 < accentedPercent;
  return {
    id: n, contractId: String(100_000_000 + n), plasticId: String(500_000_000 + n),
    pan: luhnComplete('411111' + String(n).padStart(9, '0')), psn: 2, expiry: '2911', requestType: 'NEW', cardForm: 'physical',
    title: 'Mr', firstName: accented ? ACCENTED_FIRST[n % 5]! : FIRST[n % 8]!,
    lastName: `${accented ? ACCENTED_LAST[n % 5]! : LAST[n % 8]!} ${n}`.replace(/\d/g, (d) => 'ABCDEFGHIJ'[Number(d)]!),
    companyName: n % 3 === 0 ? 'Acme Corp. & Sons' : '', addressLine1: `${n} Main Street`, addressLine2: n % 5 === 0 ? 'Apt #4' : '',
    addressLine3: '', postalCode: String(10_000 + (n % 90_000)), city: accented ? 'Düsseldorf' : 'Berlin', country: 'DEU',
    productCode: 'CLASSIC01', chipProfile: 'VSDC-CL-01', deliveryMethod: 1, pinMailer: 'Y',
  };
}

const pool = Array.from({ length: POOL_SIZE }, (_, i) => makeContract(i + 1));

async function* contracts(count: number): AsyncGenerator<ContractForPerso> {
  for (let n = 0; n < count; n++) yield pool[n % POOL_SIZE]!;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const cpuSecondsSince = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
};

async function sourceCostMicros(count: number): Promise<number> {
  const start = process.cpuUsage();
  let ids = 0;
  for await (const contract of contracts(count)) ids += contract.id;
  if (ids < 0) console.log(ids);
  return (cpuSecondsSince(start) * 1e6) / count;
}

async function main(): Promise<void> {
  const layout = loadLayout('perso-v1');
  const ctx = {
    issuerCode: 'BXISSUER', bureauCode: 'BUREAU01', businessDate: '2026-11-26', sequence: 1,
    createdAt: new Date('2026-11-26T16:00:00Z'), environment: 'T' as const, lineEnding: 'LF' as const,
  };
  await sourceCostMicros(200_000); // warm-up
  let bytes = 0;
  let chunks = 0;
  let peakRss = 0;
  const marks: string[] = [];
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const stream = renderPersoFile(layout, ctx, contracts(total));
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (++chunks % 16 === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
      if (marks.length === 0 && bytes >= 100_000 * 451) marks.push(`at 100k: rss ${mb(process.memoryUsage.rss())}, heap ${mb(process.memoryUsage().heapUsed)}`);
      done();
    },
  });
  await pipeline(stream, sink);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuSeconds = cpuSecondsSince(cpuStart);
  const mem = process.memoryUsage();
  marks.push(`at end (${total.toLocaleString('en')}): rss ${mb(mem.rss)}, heap ${mb(mem.heapUsed)}, peak rss ${mb(Math.max(peakRss, mem.rss))}`);
  const source = await sourceCostMicros(Math.min(total, 1_000_000));
  const perRecord = (cpuSeconds * 1e6) / total;
  console.log(`records: ${stream.totals?.records.toLocaleString('en')} (${accentedPercent}% with accented names), ${mb(bytes)} clear`);
  console.log(`wall: ${seconds.toFixed(2)} s, ${Math.round(total / seconds).toLocaleString('en')} detail records/s`);
  // CPU time of this process (all threads, GC included): the fair figure on a shared machine
  console.log(`cpu: ${cpuSeconds.toFixed(2)} s, ${perRecord.toFixed(2)} µs per record, ${Math.round(1e6 / perRecord).toLocaleString('en')} detail records per CPU-second`);
  console.log(`of which the bare async iteration of the source: ${source.toFixed(2)} µs per record`);
  console.log(`load average during the run: ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`);
  for (const m of marks) console.log(m);
}

await main();
