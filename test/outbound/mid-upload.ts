// The crash children's upload that stops half-way: the server holds half of `<name>.part` when they pause.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { RemoteSession, Transport } from '../../src/transport/remote.js';
import { pauseHere } from '../helpers/crash-child.js';

/**
 * For transports whose failures are injected into uploadAtomic: the upload during the claim fails, so
 * that the file goes up after the claim, through the upload made to fail.
 */
export const noUploadDuringClaim: RemoteSession['uploadPart'] = async () => {
  throw new Error('injected: no upload during the claim');
};

/** Uploads through the real session, but the first one sends half of the file, then stops at 'uploading'. */
export function stoppingMidUpload(inner: Transport): Transport {
  let stopped = false;
  return {
    async connect() {
      const session = await inner.connect();
      const uploadAtomic: RemoteSession['uploadAtomic'] = (source, dir, name, expectedSize) => {
        if (stopped || typeof source !== 'string') return session.uploadAtomic(source, dir, name, expectedSize);
        stopped = true;
        const bytes = readFileSync(source);
        const half = new Readable({ read: () => undefined });
        half.push(bytes.subarray(0, Math.floor(bytes.length / 2))); // and nothing more: the upload waits for the rest
        void session.uploadAtomic(half, dir, name, expectedSize);
        return pauseHere('uploading');
      };
      return { ...session, uploadAtomic, uploadPart: noUploadDuringClaim };
    },
  };
}

