import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { createLogger, registerSecret } from '../src/log.js';
import { withLuhn } from './helpers/cards.js';

function collectingLogger(pretty = false) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ level: 'trace', destination, pretty }), lines };
}

const PANS = ['4111111111111111', '5500000000000004', '378282246310005', withLuhn('601100000000000'), withLuhn('353011133330000000')];

describe('log redaction', () => {
  for (const pretty of [false, true]) {
    it(`no full PAN survives any log path (${pretty ? 'pretty' : 'JSON'})`, () => {
      const { log, lines } = collectingLogger(pretty);
      const child = log.child({ job: 'send', contract: { pan: PANS[0] } });
      for (const pan of PANS) {
        const spaced = pan.replace(/(\d{4})(?=\d)/g, '$1 ');
        log.info(`message with ${pan}`);
        log.info({ pan }, 'field named pan');
        log.info({ card: { number: pan, nested: { deeper: spaced } } }, 'nested');
        log.warn({ list: [pan, { v: pan }] }, 'in arrays %s', pan);
        log.error({ err: new Error(`driver said: insert values ('${pan}')`) }, 'error object');
        log.error(new Error(`thrown ${pan}`));
        child.info(`child ${pan}`);
        log.debug({ PAN: pan, Pan: pan }, 'other casing');
      }
      const all = lines.join('');
      assert.ok(lines.length > 30);
      for (const pan of PANS) {
        assert.ok(!all.includes(pan), `PAN ${pan.slice(0, 6)}… leaked`);
        assert.ok(!all.includes(pan.replace(/(\d{4})(?=\d)/g, '$1 ')), 'spaced PAN leaked');
      }
      assert.ok(all.includes('411111******1111'), 'masked form is kept for support');
    });
  }

  it('drops private key blocks and registered secrets', () => {
    const { log, lines } = collectingLogger();
    registerSecret('s3cr3t-passphrase-value');
    log.info({ detail: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----' }, 'key');
    log.info({ passphrase: 'p' }, 'passphrase field');
    log.info('using s3cr3t-passphrase-value now');
    const all = lines.join('');
    assert.ok(!all.includes('abc\\n') && all.includes('[REDACTED PRIVATE KEY]'));
    assert.ok(!all.includes('s3cr3t-passphrase-value'));
    assert.ok(!/"passphrase":"p"/.test(all));
  });

  it('drops a registered secret holding quotes, backslashes or control characters, as JSON writes it', () => {
    fc.assert(fc.property(fc.string({ minLength: 6, maxLength: 30 }).filter((s) => /["\\\u0000-\u001f]/.test(s) && s.trim() === s), (secret) => {
      const { log, lines } = collectingLogger();
      registerSecret(secret);
      log.info(`using ${secret} now`);
      log.warn({ error: `failed with ${secret}` }, 'alert');
      const all = lines.join('');
      assert.ok(!all.includes(JSON.stringify(secret).slice(1, -1)), all);
      assert.equal(lines.map((l) => JSON.parse(l)).filter((l) => `${l.msg} ${l.error ?? ''}`.includes(secret)).length, 0);
    }), { numRuns: 50 });
  });
});

describe('log levels', function () {
  this.timeout(60_000);

  it('are written as labels, so journald and log shippers map them by name; PANs still masked', () => {
    const { log, lines } = collectingLogger();
    const pan = PANS[0]!;
    log.error(`failed on ${pan}`);
    log.warn('careful');
    log.info({ pan }, 'fine');
    const parsed = lines.map((l) => JSON.parse(l));
    assert.deepEqual(parsed.map((l) => l.level), ['error', 'warn', 'info']);
    assert.ok(!lines.join('').includes(pan));
  });

  it('under systemd (stderr is the journal stream), each line starts with its journald priority', () => {
    const run = (journal: boolean) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', childScript(journal)], { encoding: 'utf8' });
    const journal = run(true);
    assert.equal(journal.status, 0, journal.stderr);
    assert.deepEqual(journal.stderr.trim().split('\n').map((l) => l.slice(0, 3)), ['<2>', '<3>', '<4>', '<6>', '<7>']);
    assert.ok(!journal.stderr.includes('4111111111111111'));
    const plain = run(false);
    assert.deepEqual(plain.stderr.trim().split('\n').map((l) => JSON.parse(l).level), ['fatal', 'error', 'warn', 'info', 'debug']);
  });
});

function childScript(journal: boolean): string {
  return [
    "import { fstatSync } from 'node:fs';",
    `if (${journal}) { const s = fstatSync(2); process.env.JOURNAL_STREAM = s.dev + ':' + s.ino; }`,
    `const { createLogger } = await import(${JSON.stringify(new URL('../src/log.ts', import.meta.url).href)});`,
    "const log = createLogger({ level: 'debug' });",
    "log.fatal('f'); log.error('e ' + '4111111111111111'); log.warn('w'); log.info('i'); log.debug('d');",
  ].join('\n');
}
