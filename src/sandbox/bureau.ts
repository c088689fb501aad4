import { createReadStream, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as openpgp from 'openpgp';
import { dateInZone, makeCalendar, type BusinessCalendar } from '../calendar/index.js';
import type { LoadedConfig } from '../config/load.js';
import { decryptToFile, loadPrivateKey } from '../crypto/pgp.js';
import { loadKeyFile } from '../crypto/pgp-keys.js';
import { encryptRsaReport } from '../crypto/rsa.js';
import { messageOf } from '../errors.js';
import { buildReportXml, type ReportHeader } from '../inbound/report-format.js';
import type { Clock } from '../jobs.js';
import type { Logger } from '../log.js';
import { loadLayout } from '../perso/layout.js';
import type { Layout } from '../perso/layout-types.js';
import { loadBureauState, saveBureauState, type BureauState } from './bureau-state.js';
import { decideRecords, rejectWholeFile, seededRandom, type Decisions } from './decide.js';
import { SANDBOX_KEY_FILES } from './keys.js';
import { checkPersoFile, type CheckedFile } from './perso-check.js';
import type { BureauSettings } from './settings.js';

export interface BureauSimulatorDeps {
  /** the sandbox config (issuer, bureau, environment, layout, folders, calendar) */
  config: LoadedConfig;
  /** the local folder the SFTP server serves as "/" */
  sftpRoot: string;
  /** DIR/keys of the sandbox */
  keysDir: string;
  /** where the bureau remembers answered files and stock */
  stateFile: string;
  settings: BureauSettings;
  log: Logger;
  clock?: Clock;
}

/** One personalization file answered with one report. */
export interface AnsweredFile {
  sourceFile: string;
  reportName: string;
  accepted: boolean;
  /** why the whole file was rejected */
  reason?: string;
  recordsReceived: number;
  signatureVerified: boolean;
  decisions: Decisions;
}

export interface BureauSimulator {
  /** answers every personalization file in the inbound folder not answered before */
  answerNewFiles(): Promise<AnsweredFile[]>;
  /** polls the inbound folder until stop(); `onAnswer` sees each report written */
  start(onAnswer?: (answered: AnsweredFile) => void): void;
  stop(): Promise<void>;
}

/** Largest clear personalization file the sandbox bureau accepts. */
const MAX_CLEAR_BYTES = 4 * 1024 ** 3;

/**
 * The sandbox bureau: picks up each new final-named personalization file, decrypts it, checks it
 * strictly, and drops an RSA-encrypted report in the outbound folder (temp name, then rename).
 */
export function makeBureauSimulator(deps: BureauSimulatorDeps): BureauSimulator {
  const { config, settings, log } = deps;
  const clock = deps.clock ?? (() => new Date());
  const inbound = join(deps.sftpRoot, config.sftp.inboundDir);
  const outbound = join(deps.sftpRoot, config.sftp.outboundDir);
  const fileName = persoFileNameRegex(config.perso.fileNamePattern, config.issuer.code);
  const calendar = makeCalendar(config.calendar);
  const layout = loadLayout(config.perso.layout, config.perso.layoutsDir);
  const rsaPublicKey = readFileSync(join(deps.keysDir, SANDBOX_KEY_FILES.issuerRsaPublic), 'utf8');
  const reportFolders = [outbound, join(deps.sftpRoot, config.sftp.processedDir), join(deps.sftpRoot, config.sftp.failedDir)];
  const ignored = new Set<string>();
  let keys: Promise<{ bureau: openpgp.PrivateKey; issuer?: openpgp.PublicKey }> | undefined;
  const loadKeys = () => (keys ??= loadBureauKeys(deps.keysDir, config.pgp.sign.enabled));

  async function answerNewFiles(): Promise<AnsweredFile[]> {
    const state = loadBureauState(deps.stateFile);
    const answers: AnsweredFile[] = [];
    for (const name of readdirSync(inbound).sort()) {
      if (state.answered[name]) continue;
      const match = fileName.exec(name);
      if (!match) {
        if (!name.endsWith('.part') && !ignored.has(name)) log.info({ file: name }, 'sandbox bureau: not a personalization file name, left alone');
        ignored.add(name);
        continue;
      }
      const answer = await answerFile(name, match.groups as { date: string; seq: string }, state);
      saveBureauState(deps.stateFile, state);
      answers.push(answer);
    }
    return answers;
  }

  async function answerFile(name: string, ids: { date: string; seq: string }, state: BureauState): Promise<AnsweredFile> {
    const { bureau, issuer } = await loadKeys();
    const now = clock();
    const reportDate = dateInZone(now, config.schedule.timezone);
    const opened = await openFile(join(inbound, name), bureau, issuer, layout, {
      issuer: config.issuer.code, bureau: config.bureau.code, environment: config.environment,
      businessDate: ids.date, fileSequence: ids.seq, lineEnding: config.perso.lineEnding,
    });
    const checked = opened.checked;
    const stock = new Map(Object.entries(state.stock));
    const decisions = checked.ok
      ? decideRecords(checked.records, { settings, calendar, reportDate, rng: seededRandom(settings.seed, name), stock })
      : rejectWholeFile(checked.records, checked.reason);
    const header: ReportHeader = {
      issuer: config.issuer.code, bureau: config.bureau.code, reportDate, createdAt: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      sourceFile: name, recordsReceived: checked.records.length,
    };
    const reportName = nextReportName(state, config.issuer.code, reportDate, reportFolders);
    writeReport(outbound, reportName, encryptRsaReport(Buffer.from(buildReportXml({ header, ...decisions }), 'utf8'), rsaPublicKey));
    for (const item of decisions.stock) state.stock[item.productCode] = item.closing;
    state.answered[name] = { report: reportName, accepted: checked.ok, at: now.toISOString() };
    const answer: AnsweredFile = {
      sourceFile: name, reportName, accepted: checked.ok, recordsReceived: checked.records.length,
      signatureVerified: opened.signatureVerified, decisions, ...(checked.ok ? {} : { reason: checked.reason }),
    };
    log.info({
      file: name, report: reportName, accepted: answer.accepted, records: answer.recordsReceived,
      rejected: decisions.rejections.length, shipments: decisions.shipments.length, reason: answer.reason,
    }, 'sandbox bureau: answered a personalization file');
    return answer;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  return {
    answerNewFiles: () => (running = running.then(answerNewFiles, answerNewFiles)) as Promise<AnsweredFile[]>,
    start(onAnswer) {
      const tick = () => {
        running = running.then(answerNewFiles).then(
          (answers) => answers.forEach((a) => onAnswer?.(a)),
          (err) => log.error({ err: messageOf(err) }, 'sandbox bureau: pass failed'),
        ).finally(() => {
          if (!stopped) timer = setTimeout(tick, settings.pollIntervalMs);
        });
      };
      tick();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running.catch(() => undefined);
    },
  };
}

/** Decrypts into a private temp folder, checks the clear file, and removes it whatever happens. */
async function openFile(
  path: string, bureau: openpgp.PrivateKey, issuer: openpgp.PublicKey | undefined, layout: Layout,
  expect: Parameters<typeof checkPersoFile>[2],
): Promise<{ checked: CheckedFile; signatureVerified: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-bureau-'));
  try {
    const destination = join(dir, 'clear.dat');
    let signatureVerified = false;
    try {
      ({ signatureVerified } = await decryptToFile(createReadStream(path), {
        decryptionKey: bureau, verificationKeys: issuer ? [issuer] : undefined, destination, maxBytes: MAX_CLEAR_BYTES,
      }));
    } catch (err) {
      return { checked: { ok: false, reason: `cannot decrypt or verify: ${messageOf(err)}`, records: [] }, signatureVerified };
    }
    return { checked: await checkPersoFile(destination, layout, expect), signatureVerified };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function loadBureauKeys(keysDir: string, verifySignature: boolean) {
  const bureau = await loadPrivateKey(join(keysDir, SANDBOX_KEY_FILES.bureauPgpSecret), undefined);
  const issuer = verifySignature ? (await loadKeyFile(join(keysDir, SANDBOX_KEY_FILES.issuerPgpPublic))).toPublic() : undefined;
  return { bureau, issuer };
}

/** The configured file name pattern as a regex with `date` and `seq` groups. */
export function persoFileNameRegex(pattern: string, issuer: string): RegExp {
  const escaped = pattern.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
  return new RegExp('^' + escaped.replace('{issuer}', issuer).replace('{date}', '(?<date>\\d{8})').replace('{seq}', '(?<seq>\\d{6})') + '$');
}

/** The next report name of the day; a name already on the server (a lost state file) is skipped, never reused. */
function nextReportName(state: BureauState, issuer: string, reportDate: string, folders: string[]): string {
  const day = reportDate.replace(/-/g, '');
  for (let seq = (state.reportSequence[day] ?? 0) + 1; ; seq++) {
    const name = `${issuer}_REPORT_${day}_${String(seq).padStart(6, '0')}.xml.rsa`;
    if (folders.some((dir) => existsSync(join(dir, name)))) continue;
    state.reportSequence[day] = seq;
    return name;
  }
}

/** Writes under a temp name, then links to the final name (never replacing one) and drops the temp. */
function writeReport(outbound: string, name: string, content: Buffer): void {
  mkdirSync(outbound, { recursive: true });
  const temp = join(outbound, `${name}.part`);
  writeFileSync(temp, content, { mode: 0o644 });
  try {
    if (existsSync(join(outbound, name))) throw new Error(`report ${name} already exists in ${outbound}`);
    linkSync(temp, join(outbound, name));
  } finally {
    unlinkSync(temp);
  }
}
