import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { requireOrSkip } from '../helpers/ci.js';

/** Debian's Chromium (the CI installs it), or BX_CHROMIUM. */
export const CHROMIUM = process.env.BX_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A headless Chromium for a test or hook (`this`): none found is a failure under CI, a pending test elsewhere. */
export async function launchChromium(ctx: Mocha.Context): Promise<Browser> {
  requireOrSkip(ctx, existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set BX_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}
