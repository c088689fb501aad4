/**
 * The layers of src/, checked on every `npm test` (npm run lint:deps). Read from the bottom up:
 *
 *   domain/, errors.ts, jobs.ts, log.ts  plain types and rules; import nothing of the layers above
 *   db/                                 all SQL (knex); imports domain/ and config, nothing that runs jobs
 *   lease/, security/, crypto/, perso/, transport/, calendar/, contracts/, config/
 *                                       building blocks; lease/ keeps what db/lease.ts stores
 *   outbound/ (send), inbound/ (receive) the two jobs: neither imports the other
 *   daemon/, sandbox/                   run the jobs
 *   cli/, cli.ts, app.ts                entry points
 *
 * knex is imported only under db/ (type imports too: other layers say Db and DbTransaction).
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'an import cycle ties modules together: split the shared part out, below both',
      from: {},
      to: { circular: true },
    },
    {
      name: 'db-below-the-jobs',
      severity: 'error',
      comment: 'db/ is the bottom layer holding the SQL: it must not depend on the jobs, the daemon, the CLI or the sandbox',
      from: { path: '^src/db/' },
      to: { path: '^src/(outbound|inbound|daemon|cli|sandbox|lease)/|^src/(cli|app)\\.ts$' },
    },
    {
      name: 'send-and-receive-apart',
      severity: 'error',
      comment: 'the send job (outbound/) and the receive job (inbound/) share only what lies below both',
      from: { path: '^src/outbound/' },
      to: { path: '^src/inbound/' },
    },
    {
      name: 'receive-and-send-apart',
      severity: 'error',
      comment: 'the send job (outbound/) and the receive job (inbound/) share only what lies below both',
      from: { path: '^src/inbound/' },
      to: { path: '^src/outbound/' },
    },
    {
      name: 'knex-only-in-db',
      severity: 'error',
      comment: 'SQL lives in src/db/ only: other layers take a Db or DbTransaction from db/connection.ts',
      from: { path: '^src/', pathNot: '^src/db/' },
      to: { path: 'node_modules/knex/' },
    },
    {
      name: 'domain-at-the-bottom',
      severity: 'error',
      comment: 'domain/ holds plain types and rules: it imports no other part of the program',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: '^src/domain/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.json'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
