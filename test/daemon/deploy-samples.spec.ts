import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PROJECT_ROOT, loadConfig } from '../../src/config/load.js';

const DEPLOY = join(PROJECT_ROOT, 'samples', 'deploy');

/** The deployment samples stay in step with the code: config valid, commands and files that exist. */
describe('deployment samples', () => {
  it('the container config is valid for the schema and points where the image puts things', () => {
    const config = loadConfig(join(DEPLOY, 'config.yaml'), { BX_DATABASE_URL: 'postgres://bx@db:5432/bureau' });
    assert.equal(config.database.client, 'pg');
    assert.equal(config.workDir, '/var/lib/bureau-exchange');
    assert.equal(config.http.enabled, true);
    assert.equal(config.http.port, 9464);
  });

  it('compose.yaml builds the Dockerfile from the repository root and mounts the config where BX_CONFIG points', () => {
    const compose = parseYaml(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'));
    const service = compose.services['bureau-exchange'];
    assert.ok(existsSync(join(DEPLOY, service.build.context, service.build.dockerfile)));
    const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const configPath = /BX_CONFIG=(\S+)/.exec(dockerfile)![1];
    assert.ok(service.volumes.includes(`./config.yaml:${configPath}:ro`));
    assert.match(service.stop_grace_period, /^\d+s$/);
    assert.ok(parseInt(service.stop_grace_period, 10) > 30, 'longer than the default shutdownTimeoutSeconds');
    assert.ok(compose.services.db.image.startsWith('postgres:'));
  });

  it('the image runs one even (long-term support) Node.js line, past 20, that package.json and better-sqlite3 accept', () => {
    const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const majors = [...dockerfile.matchAll(/^FROM node:(\d+)-/gm)].map((m) => Number(m[1]));
    assert.equal(majors.length, 2, 'build and runtime stages');
    assert.equal(new Set(majors).size, 1, 'built with the Node.js it runs on (native addons)');
    const major = majors[0]!;
    assert.equal(major % 2, 0, 'an even line: the ones that become LTS');
    assert.ok(major > 20, 'Node.js 20 reached its end of life on 2026-04-30 (docs/operations.md)');
    const engines = (name: string) => (JSON.parse(readFileSync(join(PROJECT_ROOT, name), 'utf8')) as { engines: { node: string } }).engines.node;
    assert.ok(major >= Number(/^>=(\d+)/.exec(engines('package.json'))![1]));
    assert.ok(engines('node_modules/better-sqlite3/package.json').split('||').map((r) => r.trim()).includes(`${major}.x`));
  });

  it('the Dockerfile copies only paths that exist', () => {
    const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    assert.ok(sources.length >= 5);
    for (const source of sources) assert.ok(existsSync(join(PROJECT_ROOT, source)), `${source} exists`);
  });

  it('the systemd units run commands and flags the CLI has, as the dedicated user, hardened', () => {
    const dir = join(DEPLOY, 'systemd');
    const units = readdirSync(dir).filter((f) => f.endsWith('.service'));
    assert.deepEqual(units.sort(), ['bureau-exchange-receive.service', 'bureau-exchange-send.service', 'bureau-exchange.service']);
    for (const unit of units) {
      const text = readFileSync(join(dir, unit), 'utf8');
      const exec = /^ExecStart=\S+ \S+bin\/bureau-exchange\.js (.+)$/m.exec(text)![1]!;
      assert.match(exec, /^(daemon|run-once --send-only|run-once --receive-only)$/);
      for (const line of ['User=bureau-exchange', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'ReadWritePaths=/var/lib/bureau-exchange']) {
        assert.ok(text.includes(`\n${line}\n`), `${unit}: ${line}`);
      }
    }
    assert.match(readFileSync(join(dir, 'bureau-exchange.service'), 'utf8'), /\nRestart=on-failure\n/);
  });
});
