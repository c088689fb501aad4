import { constants, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rmdir, stat, unlink, utimes, chmod, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2, { type Attributes, type InputAttributes, type SFTPWrapper } from 'ssh2';
import type { Logger } from '../log.js';
import { ConfinedRoot, ConfinementError } from './confined-root.js';

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp;

/** Largest READ answered at once (clients ask for 32–256 KiB). */
const MAX_READ = 256 * 1024;
/** Entries per READDIR answer: keeps each NAME packet far below the clients' packet limit. */
const NAMES_PER_READDIR = 100;
/**
 * Largest file a client may write (its last byte's offset): the simulator takes clear files of up to
 * 4 GiB. Without it a client filled the disk, or made a sparse file of terabytes with one WRITE at a
 * far offset, which the simulator then read.
 */
export const MAX_FILE_BYTES = 4 * 1024 ** 3;
/** Open handles per session: a client that never closes cannot exhaust the server's descriptors. */
const MAX_HANDLES = 256;

type Entry = { filename: string; longname: string; attrs: Attributes };
type Handle = { kind: 'file'; file: FileHandle; append: boolean } | { kind: 'dir'; local: string; entries?: Entry[]; next: number };

/** An SFTP status answer carried as an error through the request handlers. */
class StatusError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** The open file and directory handles of one session, by their opaque id. */
class HandleTable {
  private readonly handles = new Map<string, Handle>();
  private next = 0;

  add(h: Handle): Buffer {
    if (this.handles.size >= MAX_HANDLES) throw new StatusError(STATUS_CODE.FAILURE, `too many open handles (${MAX_HANDLES})`);
    const id = Buffer.alloc(4);
    id.writeUInt32BE(this.next++);
    this.handles.set(id.toString('hex'), h);
    return id;
  }

  get(id: Buffer): Handle {
    const h = this.handles.get(id.toString('hex'));
    if (!h) throw new StatusError(STATUS_CODE.FAILURE, 'invalid handle');
    return h;
  }

  file(id: Buffer): FileHandle {
    return this.openFile(id).file;
  }

  openFile(id: Buffer): Extract<Handle, { kind: 'file' }> {
    const h = this.get(id);
    if (h.kind !== 'file') throw new StatusError(STATUS_CODE.FAILURE, 'not a file handle');
    return h;
  }

  dir(id: Buffer): Extract<Handle, { kind: 'dir' }> {
    const h = this.get(id);
    if (h.kind !== 'dir') throw new StatusError(STATUS_CODE.FAILURE, 'not a directory handle');
    return h;
  }

  async remove(id: Buffer): Promise<void> {
    const h = this.get(id);
    this.handles.delete(id.toString('hex'));
    if (h.kind === 'file') await h.file.close();
  }

  /** the session ended: close whatever the client left open */
  closeAll(): void {
    for (const h of this.handles.values()) if (h.kind === 'file') void h.file.close().catch(() => undefined);
    this.handles.clear();
  }
}

type Answer = (reqid: number, op: string, work: () => Promise<void>) => void;

/**
 * Serves SFTP version 3 requests of one session on a confined folder. Every request handler
 * answers exactly once, with data or a status; file system errors become SFTP status codes.
 */
export function serveSftpSession(sftp: SFTPWrapper, root: ConfinedRoot, log: Logger): void {
  const handles = new HandleTable();
  const answer: Answer = (reqid, op, work) => {
    work().catch((err) => {
      const [code, message] = statusOf(err);
      log.debug({ op, code, err: message }, 'sftp request refused');
      sftp.status(reqid, code, message);
    });
  };
  serveFileRequests(sftp, root, handles, answer);
  servePathRequests(sftp, root, handles, answer);
  sftp.on('close', () => handles.closeAll());
}

/** Requests on open files: OPEN, READ, WRITE, CLOSE, FSTAT, FSETSTAT. */
function serveFileRequests(sftp: SFTPWrapper, root: ConfinedRoot, handles: HandleTable, answer: Answer): void {
  const ok = (reqid: number) => sftp.status(reqid, STATUS_CODE.OK);
  sftp.on('OPEN', (reqid, filename, flags, attrs) => answer(reqid, 'open', async () => {
    const file = await open(await root.followedPath(filename), openFlags(flags), (attrs.mode ?? 0o600) & 0o777);
    try {
      sftp.handle(reqid, handles.add({ kind: 'file', file, append: (flags & OPEN_MODE.APPEND) !== 0 }));
    } catch (err) {
      await file.close();
      throw err;
    }
  }));
  sftp.on('READ', (reqid, id, offset, length) => answer(reqid, 'read', async () => {
    const buffer = Buffer.alloc(Math.min(length, MAX_READ));
    const { bytesRead } = await handles.file(id).read(buffer, 0, buffer.length, offset);
    if (bytesRead === 0) sftp.status(reqid, STATUS_CODE.EOF);
    else sftp.data(reqid, buffer.subarray(0, bytesRead));
  }));
  sftp.on('WRITE', (reqid, id, offset, data) => answer(reqid, 'write', async () => {
    const { file, append } = handles.openFile(id);
    // appending writes at the end whatever the offset says
    const end = (append ? (await file.stat()).size : offset) + data.length;
    if (end > MAX_FILE_BYTES) throw new StatusError(STATUS_CODE.FAILURE, `file too large: the sandbox takes files of up to ${MAX_FILE_BYTES} bytes`);
    for (let done = 0; done < data.length;) {
      const { bytesWritten } = await file.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    ok(reqid);
  }));
  sftp.on('CLOSE', (reqid, id) => answer(reqid, 'close', async () => {
    await handles.remove(id);
    ok(reqid);
  }));
  sftp.on('FSTAT', (reqid, id) => answer(reqid, 'fstat', async () => {
    sftp.attrs(reqid, toAttrs(await handles.file(id).stat()));
  }));
  sftp.on('FSETSTAT', (reqid, id, attrs) => answer(reqid, 'fsetstat', async () => {
    const file = handles.file(id);
    if (attrs.mode !== undefined) await file.chmod(Number(attrs.mode) & 0o777);
    if (attrs.atime !== undefined && attrs.mtime !== undefined) await file.utimes(attrs.atime, attrs.mtime);
    ok(reqid);
  }));
}

/** Requests on paths and folders: STAT, LSTAT, SETSTAT, OPENDIR, READDIR, REALPATH, RENAME, REMOVE, MKDIR, RMDIR. */
function servePathRequests(sftp: SFTPWrapper, root: ConfinedRoot, handles: HandleTable, answer: Answer): void {
  const ok = (reqid: number) => sftp.status(reqid, STATUS_CODE.OK);
  sftp.on('STAT', (reqid, path) => answer(reqid, 'stat', async () => {
    sftp.attrs(reqid, toAttrs(await stat(await root.followedPath(path))));
  }));
  sftp.on('LSTAT', (reqid, path) => answer(reqid, 'lstat', async () => {
    sftp.attrs(reqid, toAttrs(await lstat(await root.localPath(path))));
  }));
  sftp.on('SETSTAT', (reqid, path, attrs) => answer(reqid, 'setstat', async () => {
    await applyAttrs(await root.followedPath(path), attrs);
    ok(reqid);
  }));
  sftp.on('OPENDIR', (reqid, path) => answer(reqid, 'opendir', async () => {
    const local = await root.followedPath(path);
    if (!(await stat(local)).isDirectory()) throw new StatusError(STATUS_CODE.FAILURE, 'not a directory');
    sftp.handle(reqid, handles.add({ kind: 'dir', local, next: 0 }));
  }));
  sftp.on('READDIR', (reqid, id) => answer(reqid, 'readdir', async () => {
    const h = handles.dir(id);
    h.entries ??= await listEntries(h.local);
    if (h.next >= h.entries.length) return sftp.status(reqid, STATUS_CODE.EOF);
    sftp.name(reqid, h.entries.slice(h.next, h.next + NAMES_PER_READDIR));
    h.next += NAMES_PER_READDIR;
  }));
  sftp.on('REALPATH', (reqid, path) => answer(reqid, 'realpath', async () => {
    const virtual = root.virtualPath(path);
    sftp.name(reqid, [{ filename: virtual, longname: virtual, attrs: {} as Attributes }]);
  }));
  sftp.on('RENAME', (reqid, from, to) => answer(reqid, 'rename', async () => {
    await renameNoOverwrite(await root.localPath(from), await root.localPath(to), root.root);
    ok(reqid);
  }));
  sftp.on('REMOVE', (reqid, path) => answer(reqid, 'remove', async () => {
    const local = await root.localPath(path);
    if ((await lstat(local)).isDirectory()) throw new StatusError(STATUS_CODE.FAILURE, 'is a directory (use rmdir)');
    await unlink(local);
    ok(reqid);
  }));
  sftp.on('MKDIR', (reqid, path, attrs) => answer(reqid, 'mkdir', async () => {
    await mkdir(await root.localPath(path), (attrs.mode ?? 0o755) & 0o777);
    ok(reqid);
  }));
  sftp.on('RMDIR', (reqid, path) => answer(reqid, 'rmdir', async () => {
    const local = await root.localPath(path);
    if (local === root.root) throw new StatusError(STATUS_CODE.PERMISSION_DENIED, 'the root cannot be removed');
    await rmdir(local);
    ok(reqid);
  }));
}

/** SFTP open flags → fs flags. */
function openFlags(pflags: number): number {
  const read = (pflags & OPEN_MODE.READ) !== 0;
  const write = (pflags & OPEN_MODE.WRITE) !== 0 || (pflags & OPEN_MODE.APPEND) !== 0;
  let flags = read && write ? constants.O_RDWR : write ? constants.O_WRONLY : constants.O_RDONLY;
  if (pflags & OPEN_MODE.APPEND) flags |= constants.O_APPEND;
  if (pflags & OPEN_MODE.CREAT) flags |= constants.O_CREAT;
  if (pflags & OPEN_MODE.TRUNC) flags |= constants.O_TRUNC;
  if (pflags & OPEN_MODE.EXCL) flags |= constants.O_EXCL;
  return flags;
}

/**
 * Renames without ever replacing an existing name (what OpenSSH's SFTP v3 rename does). A file is
 * linked to the new name first — atomic, fails with EEXIST — then unlinked from the old one.
 */
async function renameNoOverwrite(from: string, to: string, root: string): Promise<void> {
  if (from === root || to === root) throw new StatusError(STATUS_CODE.PERMISSION_DENIED, 'the root cannot be renamed');
  const source = await lstat(from);
  if (source.isFile()) {
    await link(from, to);
    await unlink(from);
    return;
  }
  if (await lstat(to).then(() => true, () => false)) throw new StatusError(STATUS_CODE.FAILURE, 'target exists');
  await rename(from, to);
}

async function applyAttrs(local: string, attrs: InputAttributes): Promise<void> {
  if (attrs.mode !== undefined) await chmod(local, Number(attrs.mode) & 0o777);
  if (attrs.atime !== undefined && attrs.mtime !== undefined) await utimes(local, attrs.atime, attrs.mtime);
}

async function listEntries(local: string): Promise<Entry[]> {
  const names = (await readdir(local)).sort();
  const entries: Entry[] = [];
  for (const filename of names) {
    const stats = await lstat(join(local, filename)).catch(() => undefined);
    if (stats) entries.push({ filename, longname: longName(filename, stats), attrs: toAttrs(stats) });
  }
  return entries;
}

function toAttrs(s: Stats): Attributes {
  return { mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, atime: Math.floor(s.atimeMs / 1000), mtime: Math.floor(s.mtimeMs / 1000) };
}

/** An `ls -l` line: clients (ssh2-sftp-client's list) read the entry type from its first character. */
function longName(name: string, s: Stats): string {
  const type = s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : s.isFile() ? '-' : '?';
  const perms = [6, 3, 0].map((shift: number) => {
    const bits = (s.mode >> shift) & 7;
    return (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (bits & 1 ? 'x' : '-');
  }).join('');
  const date = new Date(s.mtimeMs).toUTCString().slice(5, 22);
  return `${type}${perms}    1 ${s.uid} ${s.gid} ${String(s.size).padStart(10)} ${date} ${name}`;
}

function statusOf(err: unknown): [number, string] {
  if (err instanceof StatusError) return [err.code, err.message];
  if (err instanceof ConfinementError) return [STATUS_CODE.PERMISSION_DENIED, err.message];
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT': return [STATUS_CODE.NO_SUCH_FILE, 'no such file or directory'];
    case 'EACCES': case 'EPERM': return [STATUS_CODE.PERMISSION_DENIED, 'permission denied'];
    case 'EEXIST': return [STATUS_CODE.FAILURE, 'file exists'];
    case 'ENOTEMPTY': return [STATUS_CODE.FAILURE, 'directory not empty'];
    case 'EISDIR': return [STATUS_CODE.FAILURE, 'is a directory'];
    case 'ENOTDIR': return [STATUS_CODE.NO_SUCH_FILE, 'not a directory'];
    default: return [STATUS_CODE.FAILURE, 'failure'];
  }
}
