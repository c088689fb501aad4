import { realpathSync } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

/** A remote path that would leave the served folder, or is malformed: answered PERMISSION_DENIED. */
export class ConfinementError extends Error {
  override name = 'ConfinementError';
}

/**
 * Maps the remote paths a client sends onto one local folder. Remote paths are POSIX paths whose
 * root "/" is the folder (relative ones start there too). A path is refused when it contains a NUL,
 * when `..` would climb above the root, or when a symbolic link on the way leads outside it.
 */
export class ConfinedRoot {
  readonly root: string;

  constructor(root: string) {
    this.root = realpathSync(root);
  }

  /** The normalized remote form of a path ("/inbound/x"), or a ConfinementError. */
  virtualPath(remote: string): string {
    if (remote.includes('\0')) throw new ConfinementError('path contains a NUL byte');
    const parts: string[] = [];
    for (const part of remote.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (!parts.length) throw new ConfinementError(`path ${JSON.stringify(remote)} climbs above the root`);
        parts.pop();
      } else parts.push(part);
    }
    return '/' + parts.join('/');
  }

  /** The local path of a remote path, without following the last component (for lstat, unlink, rename). */
  async localPath(remote: string): Promise<string> {
    const virtual = this.virtualPath(remote);
    const local = virtual === '/' ? this.root : join(this.root, ...virtual.slice(1).split('/'));
    if (local !== this.root) this.assertInside(await this.realParent(local), remote);
    return local;
  }

  /** The local path of a remote path whose target, if it exists, must also be inside (for open, stat). */
  async followedPath(remote: string): Promise<string> {
    const local = await this.localPath(remote);
    const stats = await lstat(local).catch(() => undefined);
    if (stats?.isSymbolicLink()) this.assertInside(await realpath(local), remote);
    return local;
  }

  /** The real path of the deepest existing ancestor folder: where a symlink on the way really leads. */
  private async realParent(local: string): Promise<string> {
    let dir = dirname(local);
    for (;;) {
      try {
        return await realpath(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dir === this.root) throw err;
        dir = dirname(dir);
      }
    }
  }

  private assertInside(real: string, remote: string): void {
    const rel = relative(this.root, real);
    if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
      throw new ConfinementError(`path ${JSON.stringify(remote)} leads outside the served folder`);
    }
  }
}
