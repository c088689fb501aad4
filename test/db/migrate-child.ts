// A `migrate` in a process of its own, for test/db/migrate-interrupted.spec.ts to kill half-way.
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';

const db = openDatabase({ database: JSON.parse(process.env.BX_TEST_DATABASE!) });
migrateLatest(db)
  .then((applied) => process.stdout.write(JSON.stringify(applied) + '\n'))
  .finally(() => db.destroy())
  .catch((err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  });
