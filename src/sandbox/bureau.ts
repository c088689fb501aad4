import { createPrivateKey } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as openpgp from 'openpgp';
import { dateInZone, makeCalendar, type BusinessCalendar } from '../calendar/index.js';
import type { Config } from '../config/schema.js';
import { decryptToFile, loadPrivateKey } from '../crypto/pgp.js';
import { loadKeyFile } from '../crypto/pgp-keys.js';
import { ConfigError, messageOf } from '../errors.js';
import type { ReportHeader } from '../inbound/report-format.js';
import type { Clock } from '../jobs.js';
import type { Logger } from '../log.js';
import { loadLayout } from '../perso/layout.js';
import type { Layout } from '../perso/layout-types.js';
import { loadBureauState, saveBureauState, type BureauState } from './bureau-state.js';
import { fileRejection, makeDecider, type DeciderContext, type Decisions, type Rejection, type Shipment, type Stock } from './decide.js';
import { SANDBOX_KEY_FILES } from './keys.js';
import { checkPersoFile, readDetailRecords, type CheckedFile, type FileExpectations } from './perso-check.js';
import { nextReportName, writeEncryptedReport, type ReportKeys, type ReportParts } from './report-writer.js';
import type { BureauSettings } from './settings.js';

export interface BureauSimulatorDeps {
  /** the sandbox config as this bureau's jobs read it (bureauView): issuer, bureau, environment, layout, folders, calendar */
  config: Config;
  /** the local folder the SFTP server serves as "/" */
  sftpRoot: string;
  /** this bureau's own keys (DIR/keys of the sandbox for the first bureau, DIR/keys/<CODE> for another) */
  keysDir: string;
  /** our keys (issuer OpenPGP and RSA public keys): default keysDir */
  issuerKeysDir?: string;
  /** where the bureau remembers answered files and stock */
  stateFile: string;
  settings: BureauSettings;
  log: Logger;
  clock?: Clock;
  /** keep every decision in AnsweredFile.decisions (the demo checks them; memory grows with the file) */
  keepDecisions?: boolean;
}

/** One personalization file answered with one report. */
export interface AnsweredFile {
  /** the code of the bureau that answered */
  bureau: string;
  sourceFile: string;
  reportName: string;
  accepted: boolean;
  /** why the whole file was rejected */
  reason?: string;
  recordsReceived: number;
  signatureVerified: boolean;
  rejected: number;
  shipped: number;
  expected: number;
  stock: Stock[];
  /** every rejection and shipment, when the simulator keeps them (keepDecisions) */
  decisions?: Decisions;
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
 * strictly, and drops a signed, encrypted report in the outbound folder (temp name, then rename):
 * `.rsa` (node-rsa, with its detached `.sig`) or `.pgp` (signed by the bureau key), per settings.
 */
export function makeBureauSimulator(deps: BureauSimulatorDeps): BureauSimulator {
  const { config, settings, log } = deps;
  const clock = deps.clock ?? (() => new Date());
  const inbound = join(deps.sftpRoot, config.sftp.inboundDir);
  const outbound = join(deps.sftpRoot, config.sftp.outboundDir);
  const fileName = persoFileNameRegex(config.perso.fileNamePattern, config.issuer.code);
  const calendar = makeCalendar(config.calendar);
  const layout = loadLayout(config.perso.layout, config.perso.layoutsDir);
  const reportFolders = [outbound, join(deps.sftpRoot, config.sftp.processedDir), join(deps.sftpRoot, config.sftp.failedDir)];
  const ignored = new Set<string>();
  let keys: Promise<BureauKeys> | undefined;
  const loadKeys = () => (keys ??= loadBureauKeys(deps.keysDir, deps.issuerKeysDir ?? deps.keysDir, config.pgp.sign.enabled));

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
    const now = clock();
    const reportDate = dateInZone(now, config.schedule.timezone);
    const expect: FileExpectations = {
      issuer: config.issuer.code, bureau: config.bureau.code, environment: config.environment,
      businessDate: ids.date, fileSequence: ids.seq, lineEnding: config.perso.lineEnding,
    };
    const bureauKeys = await loadKeys();
    return withClearFile(join(inbound, name), bureauKeys, async (clear) => {
      const checked: CheckedFile = clear.file !== undefined
        ? await checkPersoFile(clear.file, layout, expect)
        : { ok: false, reason: clear.reason ?? 'cannot decrypt', records: 0 };
      const tally = new Tally(deps.keepDecisions ?? false);
      const header: ReportHeader = {
        issuer: config.issuer.code, bureau: config.bureau.code, reportDate, createdAt: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        sourceFile: name, recordsReceived: checked.records,
      };
      const decider: DeciderContext = { settings, calendar, reportDate, fileName: name, stock: new Map(Object.entries(state.stock)) };
      const parts = checked.ok ? acceptedReport(header, clear.file!, layout, decider, tally) : rejectedReport(header, clear.file, layout, checked.reason, tally);
      const reportName = nextReportName(state, config.issuer.code, reportDate, reportFolders, settings.reportKind);
      await writeEncryptedReport(outbound, reportName, settings.reportKind, parts, bureauKeys.reports);
      for (const item of tally.stock) state.stock[item.productCode] = item.closing;
      state.answered[name] = { report: reportName, accepted: checked.ok, at: now.toISOString() };
      const answer: AnsweredFile = {
        bureau: config.bureau.code, sourceFile: name, reportName, accepted: checked.ok, recordsReceived: checked.records, signatureVerified: clear.signatureVerified,
        ...tally.counts(), ...(checked.ok ? {} : { reason: checked.reason }),
      };
      log.info({
        bureau: config.bureau.code, file: name, report: reportName, accepted: answer.accepted, records: answer.recordsReceived,
        rejected: answer.rejected, shipped: answer.shipped, expected: answer.expected, reason: answer.reason,
      }, 'sandbox bureau: answered a personalization file');
      return answer;
    });
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

type ClearFile = { file: string; signatureVerified: boolean; reason?: undefined } | { file?: undefined; signatureVerified: false; reason: string };

/** Decrypts into a private temp folder for `use`, and removes the clear file whatever happens. */
async function withClearFile<T>(path: string, keys: BureauKeys, use: (clear: ClearFile) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-bureau-'));
  try {
    const file = join(dir, 'clear.dat');
    let clear: ClearFile;
    try {
      const { signatureVerified } = await decryptToFile(createReadStream(path), {
        decryptionKey: keys.bureau, verificationKeys: keys.issuer ? [keys.issuer] : undefined, destination: file, maxBytes: MAX_CLEAR_BYTES,
      });
      clear = { file, signatureVerified };
    } catch (err) {
      clear = { signatureVerified: false, reason: `cannot decrypt or verify: ${messageOf(err)}` };
    }
    return await use(clear);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An accepted file's report: rejections in one pass over the file, shipments in a second, with the same decisions. */
function acceptedReport(header: ReportHeader, file: string, layout: Layout, ctx: DeciderContext, tally: Tally): ReportParts {
  const shipping = makeDecider(ctx);
  return {
    header,
    rejections: (function* () {
      const deciding = makeDecider(ctx);
      for (const record of readDetailRecords(file, layout)) {
        const { rejection } = deciding.decide(record);
        if (rejection) yield tally.rejection(rejection);
      }
    })(),
    shipments: (function* () {
      for (const record of readDetailRecords(file, layout)) {
        const { shipment } = shipping.decide(record);
        if (shipment) yield tally.shipment(shipment);
      }
    })(),
    stock: (function* () {
      tally.stock = shipping.stock();
      yield* tally.stock;
    })(),
  };
}

/** A broken file's report: every record that can be read is rejected with the reason. */
function rejectedReport(header: ReportHeader, file: string | undefined, layout: Layout, reason: string, tally: Tally): ReportParts {
  return {
    header,
    rejections: (function* () {
      if (file) for (const record of readDetailRecords(file, layout)) yield tally.rejection(fileRejection(record, reason));
    })(),
    shipments: [],
    stock: [],
  };
}

/** Counts what a report says while it is written; keeps the records only when asked to. */
class Tally {
  private rejected = 0;
  private shipped = 0;
  private expected = 0;
  stock: Stock[] = [];
  private readonly kept: Decisions | undefined;

  constructor(keep: boolean) {
    this.kept = keep ? { rejections: [], shipments: [], stock: [] } : undefined;
  }

  rejection(r: Rejection): Rejection {
    this.rejected++;
    this.kept?.rejections.push(r);
    return r;
  }

  shipment(s: Shipment): Shipment {
    if (s.shipDate) this.shipped++;
    else this.expected++;
    this.kept?.shipments.push(s);
    return s;
  }

  counts() {
    return {
      rejected: this.rejected, shipped: this.shipped, expected: this.expected, stock: this.stock,
      ...(this.kept ? { decisions: { ...this.kept, stock: this.stock } } : {}),
    };
  }
}

interface BureauKeys {
  /** decrypts personalization files */
  bureau: openpgp.PrivateKey;
  /** verifies their signature, when signing is on */
  issuer?: openpgp.PublicKey;
  /** encrypt and sign reports */
  reports: ReportKeys;
}

async function loadBureauKeys(keysDir: string, issuerKeysDir: string, verifySignature: boolean): Promise<BureauKeys> {
  const file = (name: string) => join(keysDir, name);
  const ours = (name: string) => join(issuerKeysDir, name);
  const bureau = await loadPrivateKey(file(SANDBOX_KEY_FILES.bureauPgpSecret), undefined);
  const issuerPgp = (await loadKeyFile(ours(SANDBOX_KEY_FILES.issuerPgpPublic))).toPublic();
  const signingKey = file(SANDBOX_KEY_FILES.bureauReportSigningPrivate);
  if (!existsSync(signingKey)) throw new ConfigError(`${signingKey} is missing: this sandbox predates report signatures, make a new one with \`sandbox init\``);
  const reports: ReportKeys = {
    issuerRsaPublicPem: readFileSync(ours(SANDBOX_KEY_FILES.issuerRsaPublic), 'utf8'),
    reportSigningKey: createPrivateKey(readFileSync(signingKey)),
    issuerPgpPublic: issuerPgp,
    bureauPgpPrivate: bureau,
  };
  return { bureau, issuer: verifySignature ? issuerPgp : undefined, reports };
}

/** The configured file name pattern as a regex with `date` and `seq` groups. */
export function persoFileNameRegex(pattern: string, issuer: string): RegExp {
  const escaped = pattern.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
  return new RegExp('^' + escaped.replace('{issuer}', issuer).replace('{date}', '(?<date>\\d{8})').replace('{seq}', '(?<seq>\\d{6})') + '$');
}
