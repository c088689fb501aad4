import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Worker threads do not inherit the tsx loader: a thread started from source (src/*.ts under tsx)
 * registers it before importing its entry; the built code (dist/*.js) imports it directly.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.entry.endsWith('.ts')) (await import('tsx/esm/api')).register();
  await import(workerData.entry);
})();
`;

/**
 * Starts the module `name` (without extension) that sits beside the module `besideUrl`
 * (import.meta.url) on a worker thread; it reads `workerData.data`.
 */
export function startModuleWorker(besideUrl: string, name: string, data: unknown, limits?: ResourceLimits): Worker {
  const extension = besideUrl.endsWith('.ts') ? '.ts' : '.js';
  const entry = new URL(`./${name}${extension}`, besideUrl).href;
  return new Worker(BOOTSTRAP, { eval: true, workerData: { entry, data }, ...(limits ? { resourceLimits: limits } : {}) });
}
