import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** SHA-256 (hex) and byte count of content that went through a stream. */
export interface Digest {
  sha256: string;
  size: number;
}

/** A pass-through that hashes and counts what flows through it; `digest()` is final once it has ended. */
export function digestingStream(): Transform & { digest(): Digest } {
  const hash = createHash('sha256');
  let size = 0;
  let result: Digest | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      result = { sha256: hash.digest('hex'), size };
      done();
    },
  });
  return Object.assign(stream, {
    digest(): Digest {
      if (!result) throw new Error('digest read before the stream ended');
      return result;
    },
  });
}

/** SHA-256 and size of a local file. */
export async function digestOfFile(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(createReadStream(path), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
    }
  });
  return { sha256: hash.digest('hex'), size };
}
