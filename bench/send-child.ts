/**
 * The send job alone, in this (child) process, compiled (bench/tsconfig.json); started by bench/send.ts
 * with BX_BENCH_SPEC. Prints its figures as JSON on stdout.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import type { Config } from '../src/config/schema.js';
import { openDatabase } from '../src/db/connection.js';
import { silentLogger } from '../src/log.js';
import { makeSendJob } from '../src/outbound/send-job.js';
import { PanCipher } from '../src/security/pan.js';
import { makeSftpTransport } from '../src/transport/sftp.js';
import { machineCpuSeconds } from './machine-cpu.js';

export interface ChildSpec { config: Config; panKey: string; businessDate: string }
/**
 * cpuSeconds: user + system CPU of all the process's threads (less sensitive than wall time to a busy
 * machine); machinePhases: the whole machine's busy CPU seconds in each phase (the database server and
 * sshd included; absent off Linux)
 */
export interface NodeFigures { seconds: number; cpuSeconds: number; maxRssMb: number; cardsSent: number; phases: Record<string, number>; machinePhases?: Record<string, number> }

await child(JSON.parse(process.env.BX_BENCH_SPEC!));

async function child(spec: ChildSpec): Promise<void> {
  const db = openDatabase(spec.config);
  const phases: Record<string, number> = {};
  const machinePhases: Record<string, number> = {};
  let last = Date.now();
  let lastMachine = machineCpuSeconds();
  const rss: Record<string, number> = {};
  // with BX_BENCH_NODE_ARGS=--expose-gc: the heap still in use after each phase, once collected (a leak grows it with N)
  const retained: Record<string, number> = {};
  const gc = (globalThis as { gc?: () => void }).gc;
  // the peak so far at the end of each phase (maxRSS only grows): which phase made the peak
  const peak: Record<string, number> = { start: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6) };
  const mark = (name: string) => {
    const now = Date.now();
    phases[name] = (now - last) / 1000;
    const machine = machineCpuSeconds();
    if (machine !== undefined && lastMachine !== undefined) machinePhases[name] = machine - lastMachine;
    lastMachine = machine;
    rss[name] = Math.round(process.memoryUsage().rss / 1e6);
    peak[name] = Math.round((process.resourceUsage().maxRSS * 1024) / 1e6);
    if (gc) {
      gc();
      retained[name] = Math.round(process.memoryUsage().heapUsed / 1e6);
    }
    last = now;
  };
  const job = makeSendJob({
    db, config: spec.config, cipher: new PanCipher(Buffer.from(spec.panKey, 'base64')), log: silentLogger,
    transport: makeSftpTransport(spec.config.sftp, { log: silentLogger }),
    faults: { at: (point) => { if (point !== 'encrypting') mark(point); } },
  });
  // verbose: what the process held when its RSS was highest (sampled every 100 ms)
  let highest = process.memoryUsage();
  let spaces: Record<string, number> = {};
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    if (now.rss <= highest.rss) return;
    highest = now;
    spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.space_used_size / 1e6)]));
  }, 100);
  sampler.unref();
  const start = Date.now();
  last = start;
  lastMachine = machineCpuSeconds();
  const result = await job.run({ businessDate: spec.businessDate, force: true });
  mark('confirm');
  const seconds = (Date.now() - start) / 1000;
  await db.destroy();
  const cpu = process.cpuUsage();
  const figures: NodeFigures = { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMb: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6), cardsSent: result.cardsSent, phases, ...(Object.keys(machinePhases).length ? { machinePhases } : {}) };
  process.stdout.write(JSON.stringify(figures) + '\n');
  if (process.env.BX_BENCH_VERBOSE) process.stderr.write(`rss MB after each phase: ${JSON.stringify(rss)}, peak RSS MB by then: ${JSON.stringify(peak)}, at the highest sample (MB): ${JSON.stringify(Object.fromEntries(Object.entries(highest).map(([k, v]) => [k, Math.round(v / 1e6)])))}, main heap spaces used ${JSON.stringify(spaces)}${gc ? `, main heap MB after a full collection at the end of each phase ${JSON.stringify(retained)}` : ''}\n`);
}
