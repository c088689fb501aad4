// Under CI (CI=true, set by .ci/run) a test marked `.only` or left pending fails the run: a suite
// whose server or tool is missing must fail there, never pass silently as pending.
const ci = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

module.exports = {
  'node-option': ['import=tsx'],
  // prints the number of tests per database at the end of the run
  require: ['test/helpers/count-by-database.ts'],
  extension: ['ts'],
  timeout: 60000,
  exit: true,
  forbidOnly: ci,
  forbidPending: ci,
};
