import type { Command } from 'commander';
import { withApp } from '../app.js';
import { rotatePans } from '../db/pan-rotation.js';
import { wholeNumber } from './options.js';

export const order = 80;

export function register(program: Command): void {
  const keys = program.command('keys').description('key management');
  keys
    .command('rotate-pan')
    .description('move every stored PAN to the card-bound format under the key in $BX_PAN_KEY (an old key goes in $BX_PAN_KEY_PREVIOUS meanwhile); resumable')
    .option('--chunk <n>', 'rows per page (one transaction each)', '500')
    .action(async (opts: { chunk: string }, cmd: Command) => {
      const chunk = wholeNumber(opts.chunk, '--chunk', { max: 100_000 });
      await withApp(cmd.optsWithGlobals(), async ({ db, cipher, log }) => {
        const result = await rotatePans(db, cipher, chunk);
        const { refusedCards, ...counts } = result;
        log.info({ ...counts, keyId: cipher.keyId }, 'PAN rotation finished');
        for (const card of refusedCards) {
          process.stderr.write(`contract ${card.contractNumber} plastic ${card.plasticId}: left as it was: ${card.reason}\n`);
        }
        if (result.refused > refusedCards.length) process.stderr.write(`… and ${result.refused - refusedCards.length} more\n`);
        process.stdout.write(`${result.rotated} PANs re-encrypted under key ${cipher.keyId} in the card-bound format, `
          + `${result.current} already were, ${result.refused} left as they were (not their card's)\n`);
        // the others are done; those cards need their PAN imported again (the send sets them Invalid)
        if (result.refused) process.exitCode = 3;
      });
    });
}
