import { escapeXml } from '../security/shown-text.js';
import { messageOf } from '../errors.js';
import { servedText } from './served-text.js';
import type { StatusData } from './status-data.js';

/** How long the page waits for the state before it is served without (its script then reads it). */
const STATE_WAIT_MS = 3000;

/**
 * The page's HTML with what needs a person now written in: the alerts firing and when they were read,
 * or why they could not be (the database down). Without JavaScript (a text browser on a jump host, a
 * locked-down browser, a screen reader's reading mode before the script ran) the page showed
 * 'loading…' and nothing else. The script replaces both with what it reads. A slow database does
 * not hold the page up: past STATE_WAIT_MS it is served as it is.
 */
export async function pageWithState(html: string, data: StatusData): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), STATE_WAIT_MS); });
  try {
    const status = await Promise.race([data.status(), late]);
    if (status === 'late') return html;
    const alerts = status.alerts.length ? status.alerts.map((a) => item(`${a.kind}: ${a.message}`, a.severity)) : [item('none', 'none')];
    return html
      .replace(/(<ul id="alerts"[^>]*>)(<\/ul>)/, (_all, open: string, close: string) => open + alerts.join('') + close)
      .replace(/(<p id="generated"[^>]*>)loading…(<\/p>)/, (_all, open: string, close: string) => `${open}as of ${escape(status.generatedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}${close}`);
  } catch (err) {
    const problem = await data.databaseProblem();
    const why = problem === null ? messageOf(err) : `the database does not answer: ${problem}`;
    return html.replace(/<p id="error"([^>]*) hidden><\/p>/, (_all, attributes: string) => `<p id="error"${attributes}>could not load: ${escape(why)}</p>`);
  } finally {
    clearTimeout(timer);
  }
}

const escape = (text: string) => escapeXml(servedText(text));
const item = (text: string, severity: string) => `<li class="${escape(severity)}">${escape(text)}</li>`;
