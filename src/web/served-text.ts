import { terminalSafe } from '../security/shown-text.js';
import { scrub } from '../log.js';

/**
 * Text from the database or from outside as we serve it (a JSON string, a metric's label): scrubbed
 * as a log line is (PANs masked, registered secrets cut), and inert on a screen (terminalSafe: a line
 * break or tab as a space, every other control, bidi mark or line separator as U+FFFD). A row written
 * by an older version may hold any of them; a browser honours a bidi override even in textContent,
 * and a terminal (`curl /metrics`) a C1 CSI.
 */
export function servedText(text: string): string {
  return terminalSafe(scrub(text));
}
