import { existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { DemoBureau, DemoOutcome } from './demo.js';
import { SANDBOX_KEY_FILES } from './keys.js';
import { shellWord as q } from '../security/shown-text.js';

const n = (x: number) => x.toLocaleString('en');

/** Counts of values, most frequent first: "22 × 012 Unregistered plastic, 13 × …". */
function tally(values: string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([v, c]) => `${n(c)} × ${v}`).join(', ');
}

function sizeOf(file: string): string {
  if (!existsSync(file)) return '';
  const bytes = statSync(file).size;
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** Where a report ended up in its bureau's SFTP folder (reports move to processed/ once applied). */
function localReportPath(bureau: DemoBureau, name: string): string {
  const { sftpRoot } = bureau;
  const { outboundDir, processedDir, failedDir } = bureau.sftp;
  return [processedDir, failedDir, outboundDir].map((d) => join(sftpRoot, d, name)).find(existsSync) ?? join(sftpRoot, outboundDir, name);
}

/** The bureau a sent file went to (the one that answered it, else the first). */
function bureauOf(o: DemoOutcome, fileName: string): DemoBureau {
  return o.bureaus.find((b) => b.answers.some((a) => a.sourceFile === fileName)) ?? o.bureaus[0]!;
}

/** One line per bureau: its format, what it received, whether its reports were taken. */
function bureauLine(b: DemoBureau): string {
  const cards = b.answers.reduce((sum, a) => sum + a.recordsReceived, 0);
  const read = b.answers.every((a) => a.accepted) ? 'read back and accepted' : 'REFUSED by the bureau';
  const taken = b.answers.length - b.notReceived.length;
  const reports = b.notReceived.length === 0 ? `${n(taken)} report(s) received`
    : `${n(b.notReceived.length)} report(s) NOT received (still in its ${b.sftp.outboundDir})`;
  return b.answers.length === 0 ? `${b.layout}: no card routed to it` : `${b.layout}: ${n(cards)} cards in ${b.answers.length} file(s), ${read}; ${reports}`;
}

/** Whether the reports received were proven to come from the bureau (bureau-interface 1.1). */
function authenticity(o: DemoOutcome): string {
  const count = o.received.applied.length;
  if (o.config.reports.signatures === 'off') return `NOT verified: reports.signatures is off, ${n(count)} report(s) applied unauthenticated`;
  return `${n(count)} report(s) verified: signed by the pinned bureau key before anything was applied`;
}

/** The short summary a person reads after `bureau-exchange demo`. */
export function formatDemoSummary(o: DemoOutcome): string {
  const dir = o.sandbox.dir;
  const rel = (p: string) => relative(dir, p);
  const cfg = q(o.sandbox.configFile);
  // the caller's BX_ variables would win over the sandbox's config in these commands as they did not in the demo
  const npx = `${o.envSetAside.length ? `env ${o.envSetAside.map((name) => `-u ${name}`).join(' ')} ` : ''}npx bureau-exchange`;
  const rejections = o.answers.flatMap((a) => a.decisions?.rejections ?? []);
  const shipments = o.answers.flatMap((a) => a.decisions?.shipments ?? []);
  const shipped = shipments.filter((s) => s.shipDate);
  const expected = shipments.filter((s) => !s.shipDate).map((s) => s.expectedShipDate!).sort();
  const invalid = o.status.contracts.Invalid ?? 0;
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(13)}${text}`);

  lines.push('', `bureau-exchange demo — sandbox in ${dir} (TEST ONLY keys and data)`, '');
  row('Imported', `${n(o.imported.inserted)} contracts${o.imported.skippedCount ? `, ${n(o.imported.skippedCount)} lines skipped` : ''}`);
  row('Sent', `${n(o.sent.cardsSent)} cards in ${o.sent.batches.length} file(s): ${o.sent.batches.map((b) => b.fileName).join(', ')}`);
  for (const b of o.bureaus) lines.push(`      ${b.code.padEnd(9)}${bureauLine(b)}`);
  row('Invalid', `${n(invalid)} not sent (our own validation):`);
  const listed = Math.min(12, o.sent.invalid.length);
  for (const i of o.sent.invalid.slice(0, listed)) lines.push(`      contract ${i.contractNumber}: ${i.reason}`);
  // the send lists at most 1,000 Invalid cards (invalidTotal counts them all): the rest is counted from the total
  const invalidSent = o.sent.invalidTotal ?? o.sent.invalid.length;
  if (invalidSent > listed) lines.push(`      … and ${n(invalidSent - listed)} more (contracts list --status Invalid)`);
  row('Rejected', `${n(rejections.length)} by the bureau${o.bureaus.length > 1 ? 's' : ''}${rejections.length ? ': ' + tally(rejections.map((r) => `${r.code} ${r.reason}`)) : ''}`);
  row('Shipped', `${n(shipped.length)} shipped${shipped.length ? ' (' + tally(shipped.map((s) => s.courier)) + ')' : ''}`);
  row('Expected', `${n(expected.length)} to ship${expected.length ? ` between ${expected[0]} and ${expected[expected.length - 1]}` : ''}`);
  row('Stock', o.status.stock.map((s) => `${s.bureauCode ? `${s.bureauCode} ` : ''}${s.productCode} ${n(s.closing)}${s.low ? ` LOW (min ${n(s.minStock)})` : ''}`).join(', ') || '(no stock report)');
  row('Verified', authenticity(o));
  for (const q of o.received.quarantined) row('QUARANTINED', `${q.remoteName}: ${q.reason}`);
  for (const a of o.answers.filter((x) => !x.accepted)) row('FILE REJECTED', `${a.sourceFile}: ${a.reason}`);
  lines.push('');
  const waiting = o.bureaus.filter((b) => b.notReceived.length).map((b) => b.code);
  if (o.ok) lines.push(`  OK: all ${n(o.imported.inserted)} cards reached a final state consistent with their bureau's report.`);
  if (!o.ok && waiting.length) lines.push(`  NOT OK: the receive job did not take the reports of ${waiting.join(', ')} (their cards stay InProduction).`);
  if (!o.ok && (o.check.problemCount || !waiting.length)) {
    lines.push(`  NOT OK: ${n(o.check.problemCount)} card(s) differ from their bureau's report:`);
    for (const p of o.check.problems) lines.push(`      ${p}`);
  }

  lines.push('', '  Files');
  for (const b of o.sent.batches) {
    const bureau = bureauOf(o, b.fileName);
    const file = join(bureau.sftpRoot, bureau.sftp.inboundDir, b.fileName);
    row('  sent', `${rel(file)}  (OpenPGP, ${sizeOf(file)})`);
  }
  for (const a of o.answers) {
    const path = localReportPath(o.bureaus.find((b) => b.code === a.bureau)!, a.reportName);
    row('  report', `${rel(path)}  (${a.reportName.endsWith('.pgp') ? 'OpenPGP, signed by the bureau key' : 'RSA-OAEP by node-rsa'})`);
    if (existsSync(`${path}.sig`)) row('  signature', `${rel(path)}.sig  (RSA-PSS SHA-256 by the bureau report-signing key)`);
  }
  row('  database', rel(o.config.database.filename));
  row('  contracts', `${rel(o.contractsFile)}  (generated test data)`);
  row('  keys', `${rel(o.sandbox.keysDir)}/  (TEST ONLY)`);
  row('  log', rel(o.logFile));

  lines.push('', '  Look further');
  if (o.envSetAside.length) lines.push(`    (your environment sets ${o.envSetAside.join(', ')}: the demo ran without them, and so do these commands)`);
  lines.push(`    ${npx} --config ${cfg} status`);
  lines.push(`    ${npx} --config ${cfg} contracts list --status Rejected`);
  lines.push(`    ${npx} --config ${cfg} contracts list`);
  for (const b of o.bureaus) lines.push(...lookFurther(o, b, npx));
  lines.push(`    ${npx} sandbox serve --config ${cfg}    # the sandbox bureau, for your own runs`);
  lines.push('');
  return lines.join('\n');
}

/** How to decrypt a bureau's first file with its key and read its first card, and check its first signed report with its signing key. */
function lookFurther(o: DemoOutcome, b: DemoBureau, npx: string): string[] {
  const lines: string[] = [];
  const first = b.answers[0];
  if (first) {
    const file = join(b.sftpRoot, b.sftp.inboundDir, first.sourceFile);
    const keys = [join(b.keysDir, SANDBOX_KEY_FILES.bureauPgpSecret), join(o.sandbox.keysDir, SANDBOX_KEY_FILES.issuerPgpPublic)].map(q).join(' ');
    // decrypted into a private temp folder and shown by `perso explain`, PAN masked: printing the clear
    // records (`| head`) put full PANs on the terminal, test ones or not
    lines.push(`    G="$(mktemp -d)" && gpg --homedir "$G" --batch --quiet --import ${keys} && gpg --homedir "$G" --batch --quiet --decrypt ${q(file)} > "$G/clear" && `
      + `${npx} --config ${q(o.sandbox.configFile)} perso explain "$G/clear" --layout ${b.layout} --record 1    # ${b.code}: its first card, PAN masked`);
  }
  const signed = b.answers.map((a) => localReportPath(b, a.reportName)).find((p) => existsSync(`${p}.sig`));
  if (signed) {
    const pub = q(join(b.keysDir, SANDBOX_KEY_FILES.bureauReportSigningPublic));
    lines.push(`    openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 -verify ${pub} -signature ${q(`${signed}.sig`)} ${q(signed)}`);
  }
  return lines;
}
