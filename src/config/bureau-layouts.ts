import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, messageOf } from '../errors.js';
import { fileNamePatternProblem } from '../perso/file-name.js';
import { cardsPerFileProblem, DEFAULT_LAYOUTS_DIR, isLayoutName, loadLayoutFile } from '../perso/layout.js';
import type { Layout } from '../perso/layout-types.js';
import { fileFieldsProblem } from '../perso/render.js';
import { collidingFileNames } from './bureaus.js';
import type { Config } from './schema.js';

/**
 * Loads each bureau's layout at load, so that a broken layout, one whose header or trailer cannot
 * hold the issuer's or bureau's code or the environment, a line ending the bureau's profile does not
 * allow, a bad file name pattern or a perso.maxCardsPerFile its record counters cannot number stops
 * the start with the key named, not the first send.
 * Fills in what the config left to the layout (line ending, file name pattern) and the layout's path;
 * the top-level perso section then describes the first bureau. `listed`: the bureaus came as a
 * list (keys bureaus[i].…), else from the single-bureau keys (perso.…).
 */
export function resolveBureauLayouts(config: Config, base: string, listed: boolean): void {
  const layoutsDir = config.perso.layoutsDir ?? DEFAULT_LAYOUTS_DIR;
  // Bureaus mostly share a few layouts: each file is read and checked once, not once per bureau.
  const layouts = new Map<string, Layout | Error>();
  const layoutOf = (file: string): Layout => {
    let layout = layouts.get(file);
    if (layout === undefined) {
      try {
        layout = loadLayoutFile(file);
      } catch (err) {
        layout = err instanceof Error ? err : new Error(messageOf(err));
      }
      layouts.set(file, layout);
    }
    if (layout instanceof Error) throw layout;
    return layout;
  };
  config.bureaus.forEach((bureau, i) => {
    const key = (name: string) => (listed ? `bureaus[${i}].${name}` : `perso.${name}`);
    const fail = (name: string, message: string): never => {
      throw new ConfigError(`${key(name)}: ${message}`);
    };
    const file = isLayoutName(bureau.layout) ? join(layoutsDir, `${bureau.layout}.yaml`) : resolve(base, bureau.layout);
    if (!isLayoutName(basename(file).replace(/\.yaml$/, '')) || !file.endsWith('.yaml')) {
      fail('layout', `${JSON.stringify(bureau.layout)}: a layout name, or a path to a file <name>.yaml`);
    }
    let layout;
    try {
      layout = layoutOf(file);
    } catch (err) {
      return fail('layout', messageOf(err));
    }
    const fileFields = fileFieldsProblem(layout, { issuerCode: config.issuer.code, bureauCode: bureau.code, environment: config.environment });
    if (fileFields) fail('layout', `${fileFields} (${file})`);
    const counters = cardsPerFileProblem(layout, config.perso.maxCardsPerFile);
    if (counters) {
      const whose = listed ? `bureaus[${i}] (${bureau.code}) layout` : 'layout';
      throw new ConfigError(`perso.maxCardsPerFile: ${config.perso.maxCardsPerFile} cards a file do not fit ${whose} ${layout.name}: ${counters}`);
    }
    if (bureau.lineEnding === undefined) bureau.lineEnding = layout.lineEndings[0]!;
    else if (!layout.lineEndings.includes(bureau.lineEnding)) {
      fail('lineEnding', `${bureau.lineEnding} is not a line ending layout ${layout.name} allows (${layout.lineEndings.join(', ')})`);
    }
    if (bureau.fileNamePattern === undefined) {
      bureau.fileNamePattern = layout.fileNamePattern ?? fail('fileNamePattern', `required: layout ${layout.name} (${file}) has no fileNamePattern`);
    } else {
      const problem = fileNamePatternProblem(bureau.fileNamePattern);
      if (problem) fail('fileNamePattern', problem);
    }
    bureau.layout = file;
  });
  const clash = listed ? collidingFileNames(config.bureaus, config.issuer.code) : undefined;
  if (clash) {
    const [i, j] = clash;
    const [a, b] = [config.bureaus[i]!, config.bureaus[j]!];
    throw new ConfigError(`bureaus[${j}].fileNamePattern: ${JSON.stringify(b.fileNamePattern)} (${b.code}) and bureaus[${i}].fileNamePattern ${JSON.stringify(a.fileNamePattern)} (${a.code}) `
      + 'could give the same file name for the same date and sequence: give each bureau its own pattern (the layout\'s is the default)');
  }
  const first = config.bureaus[0]!;
  config.perso.layout = basename(first.layout).replace(/\.yaml$/, '');
  config.perso.layoutsDir = dirname(first.layout);
  config.perso.lineEnding = first.lineEnding!;
  config.perso.fileNamePattern = first.fileNamePattern!;
}

