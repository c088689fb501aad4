import assert from 'node:assert/strict';
import { forEachBureau } from '../../src/cli/bureau-runs.js';
import { ConfigError } from '../../src/errors.js';

describe('send and receive over several bureaus (forEachBureau)', () => {
  const signal = new AbortController().signal;
  let written: string[];
  let write: typeof process.stderr.write;
  beforeEach(() => {
    written = [];
    write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  });
  afterEach(() => (process.stderr.write = write));

  async function run(failures: Record<string, Error>): Promise<{ ran: string[]; error: unknown }> {
    const ran: string[] = [];
    const error = await forEachBureau('send', [{ code: 'B1' }, { code: 'B2' }, { code: 'B3' }], { several: false, signal }, async ({ code }) => {
      ran.push(code);
      if (failures[code]) throw failures[code];
    }).then(() => undefined, (err: unknown) => err);
    return { ran, error };
  }

  it('a bureau that fails does not keep the next from its turn; the command fails after, naming how many', async () => {
    const { ran, error } = await run({ B1: new Error('connect ECONNREFUSED') });
    assert.deepEqual(ran, ['B1', 'B2', 'B3']);
    assert.ok(error instanceof Error && !(error instanceof ConfigError));
    assert.match((error as Error).message, /^send failed for 1 of 3 bureaus/);
    assert.match(written.join(''), /bureau B1: error: connect ECONNREFUSED/);
  });

  it("one bureau's configuration error makes the command's a configuration error (exit 2), after every turn", async () => {
    const { ran, error } = await run({ B1: new Error('connect ECONNREFUSED'), B2: new ConfigError('bureaus[1].pgp.bureauPublicKeyFile: no such file') });
    assert.deepEqual(ran, ['B1', 'B2', 'B3']);
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^send failed for 2 of 3 bureaus .*configuration needs fixing/);
  });

  it('with one bureau, its error is the command\'s as it is', async () => {
    const original = new ConfigError('bad');
    const error = await forEachBureau('receive', [{ code: 'B1' }], { several: false, signal }, async () => { throw original; }).catch((err: unknown) => err);
    assert.equal(error, original);
  });
});
