import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import fc from 'fast-check';
import { ConfinedRoot, ConfinementError } from '../../src/sandbox/confined-root.js';

/**
 * Whatever remote path a client sends (`..`, `.`, empty segments, NUL, newlines, backslashes,
 * non-ASCII, symbolic links on the way that lead out or stay in), the local path the server works
 * on is inside the served folder, or the request is refused.
 */
describe('sandbox confined root, any remote path', function () {
  let base: string;
  let root: ConfinedRoot;

  before(() => {
    base = mkdtempSync(join(tmpdir(), 'bx-confined-'));
    mkdirSync(join(base, 'root', 'inbound', 'deep'), { recursive: true });
    mkdirSync(join(base, 'outside'));
    writeFileSync(join(base, 'outside', 'secret'), 'x');
    writeFileSync(join(base, 'root', 'inbound', 'file'), 'x');
    symlinkSync(join(base, 'outside'), join(base, 'root', 'inbound', 'out-dir'));
    symlinkSync(join(base, 'outside', 'secret'), join(base, 'root', 'inbound', 'out-file'));
    symlinkSync('../..', join(base, 'root', 'inbound', 'up-rel'));
    symlinkSync(join(base, 'outside', 'missing'), join(base, 'root', 'inbound', 'dangling-out'));
    symlinkSync(join(base, 'root', 'inbound', 'deep'), join(base, 'root', 'in-dir'));
    root = new ConfinedRoot(join(base, 'root'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  /** the real place a local path names: its deepest existing part resolved, the rest appended */
  const realPlace = (local: string): string => {
    let existing = local;
    const rest: string[] = [];
    for (;;) {
      try {
        return join(realpathSync(existing), ...rest);
      } catch {
        rest.unshift(existing.slice(dirname(existing).length + 1));
        existing = dirname(existing);
      }
    }
  };
  const inside = (p: string) => {
    const rel = relative(root.root, p);
    return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !rel.startsWith(sep));
  };

  const segment = fc.oneof(
    fc.constantFrom('..', '.', '', 'inbound', 'deep', 'file', 'out-dir', 'out-file', 'up-rel', 'dangling-out', 'in-dir', 'secret', 'outside'),
    fc.string({ unit: fc.constantFrom('a', '\n', '\0', '\\', 'é', ' ', '.', 'Ω', '\r'), maxLength: 6 }),
  );
  const remote = fc.tuple(fc.boolean(), fc.array(segment, { maxLength: 8 })).map(([abs, parts]) => (abs ? '/' : '') + parts.join('/'));

  it('localPath: the parent of what is named is inside, or the path is refused', async function () {
    await fc.assert(fc.asyncProperty(remote, async (path) => {
      let local: string;
      try {
        local = await root.localPath(path);
      } catch (err) {
        if (err instanceof ConfinementError) return;
        // a path through a file or a name too long: the file system's own refusal, never a way out
        assert.ok(['ENOTDIR', 'ENAMETOOLONG', 'ELOOP'].includes((err as NodeJS.ErrnoException).code!), String(err));
        return;
      }
      assert.ok(!path.includes('\0'), 'a NUL is refused');
      if (local !== root.root) assert.ok(inside(realPlace(dirname(local))), `${JSON.stringify(path)} → ${local}`);
    }), { numRuns: 2000 });
  });

  it('followedPath: what is opened is inside, or the path is refused', async function () {
    await fc.assert(fc.asyncProperty(remote, async (path) => {
      let local: string;
      try {
        local = await root.followedPath(path);
      } catch (err) {
        if (err instanceof ConfinementError) return;
        assert.ok(['ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'ENOENT'].includes((err as NodeJS.ErrnoException).code!), String(err));
        return;
      }
      assert.ok(inside(realPlace(local)), `${JSON.stringify(path)} → ${local} → ${realPlace(local)}`);
    }), { numRuns: 2000 });
  });
});
