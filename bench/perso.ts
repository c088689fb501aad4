/**
 * Perso rendering benchmark: contracts generated on the fly (as the database would yield them) →
 * renderPersoFile → bytes counted and dropped. Prints detail records per second and memory at
 * 100k and at the end, for a run of N records (default 1,000,000).
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

async function* contracts(count: number): AsyncGenerator<ContractForPerso> {
  for (let n = 1; n <= count; n++) {
    const accented = n % 100 < accentedPercent;
    yield {
      id: n, contractId: String(100_000_000 + n), plasticId: String(500_000_000 + n),
      pan: luhnComplete('411111' + String(n).padStart(9, '0')), psn: 2, expiry: '2911', requestType: 'NEW', cardForm: 'physical',
      title: 'Mr', firstName: accented ? ACCENTED_FIRST[n % 5]! : FIRST[n % 8]!, lastName: accented ? ACCENTED_LAST[n % 5]! : LAST[n % 8]!,
      companyName: n % 3 === 0 ? 'Acme Corp. & Sons' : '', addressLine1: `${n % 997} Main Street`, addressLine2: n % 5 === 0 ? 'Apt #4' : '',
      addressLine3: '', postalCode: '10115', city: accented ? 'Düsseldorf' : 'Berlin', country: 'DEU', productCode: 'CLASSIC01',
      chipProfile: 'VSDC-CL-01', deliveryMethod: 1, pinMailer: 'Y',
    };
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function main(): Promise<void> {
  const layout = loadLayout('perso-v1');
  const ctx = {
    issuerCode: 'BXISSUER', bureauCode: 'BUREAU01', businessDate: '2026-11-26', sequence: 1,
    createdAt: new Date('2026-11-26T16:00:00Z'), environment: 'T' as const, lineEnding: 'LF' as const,
  };
  let bytes = 0;
  let peakRss = 0;
  const marks: string[] = [];
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const stream = renderPersoFile(layout, ctx, contracts(total));
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      const records = Math.floor(bytes / 451);
      if (records % 16 === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
      if (marks.length === 0 && records >= 100_000) marks.push(`at 100k: rss ${mb(process.memoryUsage.rss())}, heap ${mb(process.memoryUsage().heapUsed)}`);
      done();
    },
  });
  await pipeline(stream, sink);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const mem = process.memoryUsage();
  marks.push(`at end (${total.toLocaleString('en')}): rss ${mb(mem.rss)}, heap ${mb(mem.heapUsed)}, peak rss ${mb(peakRss)}`);
  console.log(`records: ${stream.totals?.records.toLocaleString('en')} (${accentedPercent}% with accented names), ${mb(bytes)} clear`);
  console.log(`wall: ${seconds.toFixed(2)} s, ${Math.round(total / seconds).toLocaleString('en')} detail records/s, ${(bytes / 1024 / 1024 / seconds).toFixed(0)} MB/s`);
  // CPU time of this process (all threads, GC included): the fair figure on a shared machine
  console.log(`cpu: ${cpuSeconds.toFixed(2)} s, ${Math.round(total / cpuSeconds).toLocaleString('en')} detail records per CPU-second`);
  console.log(`load average during the run: ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`);
  for (const m of marks) console.log(m);
}

await main();
