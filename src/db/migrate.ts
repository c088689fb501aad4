import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { Db } from './connection.js';

// <root>/migrations beside src/ when run from TypeScript; dist/migrations (compiled) beside dist/src/
const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

/**
 * Migrations are listed without their extension, so the same history is valid whether they run
 * from TypeScript (tsx) or from the compiled dist/ (knex records names; an extension change would
 * otherwise corrupt the history).
 */
class MigrationSource implements Knex.MigrationSource<string> {
  private readonly files = new Map<string, string>();

  constructor(dir: string) {
    for (const file of readdirSync(dir).sort()) {
      const m = /^(\d{3}_[a-z0-9_]+)\.(ts|js)$/.exec(file);
      if (m && !file.endsWith('.d.ts')) this.files.set(m[1]!, join(dir, file));
    }
  }

  async getMigrations(): Promise<string[]> {
    return [...this.files.keys()];
  }

  getMigrationName(name: string): string {
    return name;
  }

  async getMigration(name: string): Promise<Knex.Migration> {
    return import(pathToFileURL(this.files.get(name)!).href);
  }
}

function options(): Knex.MigratorConfig {
  return { migrationSource: new MigrationSource(MIGRATIONS_DIR), tableName: 'knex_migrations' };
}

/** Runs pending migrations; returns the names applied. */
export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = await db.migrate.latest(options());
  return applied as string[];
}

/** Rolls back every migration (tests, and an operator undoing an install). */
export async function migrateDownAll(db: Db): Promise<string[]> {
  const [, undone] = await db.migrate.rollback(options(), true);
  return undone as string[];
}

/** Rolls back the last migration applied; returns its name (tests of a migration's down). */
export async function migrateDownLast(db: Db): Promise<string[]> {
  const [, undone] = await db.migrate.down(options());
  return undone as string[];
}

export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = await db.migrate.list(options());
  return (pending as Array<{ file: string } | string>).map((p) => (typeof p === 'string' ? p : p.file));
}

/**
 * Migrations not applied yet, read without writing anything (knex's own listing creates its history
 * table): read-only commands use it to refuse a database that is missing or behind.
 */
export async function unappliedMigrations(db: Db): Promise<string[]> {
  const all = await new MigrationSource(MIGRATIONS_DIR).getMigrations();
  if (!(await db.schema.hasTable('knex_migrations'))) return all;
  const applied = new Set((await db('knex_migrations').select('name')).map((r: { name: string }) => r.name));
  return all.filter((name) => !applied.has(name));
}
