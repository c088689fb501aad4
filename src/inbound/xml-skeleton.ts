import { InputError } from '../errors.js';
import { LISTS, type ListName } from './report-format.js';

/**
 * Splits a report document into its header and record elements without building the whole tree
 * (a whole-document parse needs many times the input in memory). It checks the skeleton —
 * root, lists, record element names, nesting, closing tags — and refuses any DTD, so no entity can
 * ever be declared (billion laughs, external entities). The elements it yields are parsed by the
 * caller, one small piece at a time.
 */
export type SkeletonEvent =
  | { kind: 'root'; version: string | undefined }
  | { kind: 'header'; xml: string }
  | { kind: 'record'; list: ListName; index: number; path: string; xml: string };

const ROOT = 'BureauReport';
/** the largest header or record element we accept (the real ones are a few hundred bytes) */
const MAX_ELEMENT_CHARS = 64 * 1024;
const MAX_TAG_CHARS = 1024;
const NAME = /^[A-Za-z_][\w.-]*$/;

class Cursor {
  buf = '';
  pos = 0;
  done = false;
  constructor(private readonly source: AsyncIterator<string>) {}

  /** Reads more text; false at the end of the input. */
  async more(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.source.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.slice(this.pos) + next.value;
    this.pos = 0;
    return true;
  }

  /** Index of `text` at or after `from`, reading more input (up to `limit` characters from `from`); -1 at the end. */
  async find(text: string, from: number, limit: number): Promise<number> {
    for (;;) {
      const at = this.buf.indexOf(text, from);
      if (at >= 0) return at;
      if (this.buf.length - from > limit) return -2;
      const shift = this.pos;
      if (!(await this.more())) return -1;
      from -= shift;
    }
  }
}

function fail(path: string, message: string): never {
  throw new InputError(`${path}: ${message}`);
}

/** What a tag says: `<name attrs>`, `<name attrs/>` or `</name>`. */
function readTag(raw: string, path: string): { name: string; closing: boolean; empty: boolean; attrs: string } {
  const m = /^<(\/?)([^\s/>]+)([\s\S]*?)(\/?)>$/.exec(raw);
  if (!m || !NAME.test(m[2]!)) fail(path, `malformed tag ${JSON.stringify(raw.slice(0, 40))}`);
  return { name: m[2]!, closing: m[1] === '/', empty: m[4] === '/', attrs: m[3]! };
}

/**
 * The text is always read as UTF-8 (docs/bureau-interface.md §2): a report declaring another
 * encoding (a Latin-1 export) would have its accented letters turned into U+FFFD and applied so.
 */
function checkEncoding(instruction: string): void {
  if (!/^<\?xml\s/.test(instruction)) return;
  const encoding = /\sencoding\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(instruction);
  const name = encoding?.[1] ?? encoding?.[2];
  if (name !== undefined && !/^utf-?8$/i.test(name)) {
    fail('BureauReport', `the XML declaration names the encoding ${JSON.stringify(name.slice(0, 40))}; a report must be UTF-8`);
  }
}

export async function* skeletonEvents(text: AsyncIterable<string>): AsyncGenerator<SkeletonEvent> {
  const cur = new Cursor(text[Symbol.asyncIterator]());
  const stack: string[] = [];
  const counts: Record<string, number> = {};
  let rootSeen = false;
  const here = () => stack.join('/') || '(document)';
  for (;;) {
    // skip whitespace between skeleton tags; anything else there is an error
    for (;;) {
      while (cur.pos < cur.buf.length && /\s/.test(cur.buf[cur.pos]!)) cur.pos++;
      if (cur.pos < cur.buf.length || !(await cur.more())) break;
    }
    if (cur.pos >= cur.buf.length) break;
    if (cur.buf[cur.pos] !== '<') fail(here(), 'unexpected text between elements');
    while (cur.buf.length - cur.pos < 9 && (await cur.more()));
    const head = cur.buf.slice(cur.pos, cur.pos + 9);
    if (head.startsWith('<!--')) {
      const end = await cur.find('-->', cur.pos + 4, MAX_ELEMENT_CHARS);
      if (end < 0) fail(here(), 'comment not closed');
      cur.pos = end + 3;
      continue;
    }
    if (head.startsWith('<?')) {
      const end = await cur.find('?>', cur.pos + 2, MAX_TAG_CHARS);
      if (end < 0) fail(here(), 'processing instruction not closed');
      checkEncoding(cur.buf.slice(cur.pos, end + 2));
      cur.pos = end + 2;
      continue;
    }
    if (head.startsWith('<![CDATA[')) fail(here(), 'a CDATA section between elements: text belongs inside a field of a record or of the header');
    if (head.startsWith('<!DOCTYPE') || head.startsWith('<!')) {
      fail(here(), 'a DOCTYPE or DTD declaration is not allowed in a report (entity declarations are refused)');
    }
    const tagEnd = await cur.find('>', cur.pos, MAX_TAG_CHARS);
    if (tagEnd < 0) fail(here(), tagEnd === -2 ? 'tag too long' : 'document ends inside a tag');
    // cur.pos stays at the tag's start until the tag (or its whole element) is consumed: reading
    // more input keeps the buffer from cur.pos on
    const tagText = cur.buf.slice(cur.pos, tagEnd + 1);
    const tag = readTag(tagText, here());
    if (tag.closing) {
      cur.pos = tagEnd + 1;
      if (stack[stack.length - 1] !== tag.name) fail(here(), `closing tag </${tag.name}> does not match`);
      stack.pop();
      continue;
    }
    const path = `${here()}/${tag.name}`.replace(/^\(document\)\//, '');
    if (stack.length === 0) {
      if (rootSeen) fail(path, 'a second root element');
      if (tag.name !== ROOT) fail(tag.name, `root element must be ${ROOT}`);
      rootSeen = true;
      cur.pos = tagEnd + 1;
      yield { kind: 'root', version: /(?<![\w.:-])version\s*=\s*["']([^"']*)["']/.exec(tag.attrs)?.[1] };
      if (!tag.empty) stack.push(ROOT);
      continue;
    }
    const parent = stack[stack.length - 1]!;
    const isList = stack.length === 1 && tag.name in LISTS;
    const isRecord = stack.length === 2 && LISTS[parent as ListName] === tag.name;
    if (stack.length === 1 && !isList && tag.name !== 'Header') fail(path, 'unknown element');
    if (stack.length === 2 && !isRecord) fail(path, `unexpected element, expected ${LISTS[parent as ListName]}`);
    counts[path] = (counts[path] ?? 0) + 1;
    if (isList) {
      if (counts[path]! > 1) fail(path, 'appears more than once');
      cur.pos = tagEnd + 1;
      if (!tag.empty) stack.push(tag.name);
      continue;
    }
    if (tag.name === 'Header' && counts[path]! > 1) fail(path, 'appears more than once');
    let xml = tagText;
    if (tag.empty) {
      cur.pos += tagText.length;
    } else {
      const close = `</${tag.name}>`;
      const end = await cur.find(close, cur.pos + tagText.length, MAX_ELEMENT_CHARS);
      const at = isRecord ? `${path}[${counts[path]}]` : path;
      if (end === -2) fail(at, `element longer than ${MAX_ELEMENT_CHARS} characters or not closed`);
      if (end < 0) fail(at, 'document ends inside this element');
      xml = cur.buf.slice(cur.pos, end + close.length);
      cur.pos = end + close.length;
    }
    if (isRecord) yield { kind: 'record', list: parent as ListName, index: counts[path]!, path: `${path}[${counts[path]}]`, xml };
    else yield { kind: 'header', xml };
  }
  if (!rootSeen) fail('(document)', `no ${ROOT} element`);
  if (stack.length) fail(here(), 'document ends before this element is closed');
}
