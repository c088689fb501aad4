import type { Command } from 'commander';
import { withApp } from '../app.js';
import { rotatePanKey } from '../db/contracts.js';

export const order = 80;

export function register(program: Command): void {
  const keys = program.command('keys').description('key management');
  keys
    .command('rotate-pan')
    .description('re-encrypt stored PANs under the key in $BX_PAN_KEY; the old key goes in $BX_PAN_KEY_PREVIOUS meanwhile')
    .option('--chunk <n>', 'rows per transaction', '500')
    .action(async (opts: { chunk: string }, cmd: Command) => {
      await withApp(cmd.optsWithGlobals(), async ({ db, cipher, log }) => {
        const rotated = await rotatePanKey(db, cipher, Number(opts.chunk));
        log.info({ rotated, keyId: cipher.keyId }, 'PAN key rotation finished');
        process.stdout.write(`${rotated} PANs re-encrypted under key ${cipher.keyId}\n`);
      });
    });
}
