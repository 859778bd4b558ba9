// Deterministic pseudo-random byte streams shared by the test servers
// (servers.js) and the clients in tests, so both sides produce and verify the
// same bytes without shipping them around.
//
// Theory of operation: the stream for a seed is AES-128-CTR keystream (the
// encryption of zeros) under a key derived from the seed with SHA-256. It is
// fast (native crypto, GB/s), needs no state beyond the cipher, and any window
// of it can be produced directly: the counter block for byte offset `o` is
// `o / 16`, and the first `o % 16` bytes of that block are skipped.
//
// Plain JavaScript ESM with no dependencies: it runs under vitest, under plain
// `node` (servers.js, bench/) and inside namespaces.

import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * Key for a seed: the first 16 bytes of SHA-256("passt-test-stream:" + seed).
 * @param {number|string|bigint} seed
 * @returns {Buffer}
 */
function keyFor(seed) {
  return createHash('sha256').update(`passt-test-stream:${String(seed)}`).digest().subarray(0, 16);
}

/**
 * Counter block for a 16-byte block index (big-endian 128-bit counter).
 * @param {number} blockIndex
 * @returns {Buffer}
 */
function counterBlock(blockIndex) {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(blockIndex)), 8);
  return iv;
}

/**
 * A sequential generator of the stream for `seed`, starting at `offset`.
 * `next(n)` returns the next n bytes as a fresh Buffer.
 */
export class StreamGenerator {
  /**
   * @param {number|string|bigint} seed
   * @param {number} [offset]
   */
  constructor(seed, offset = 0) {
    this.seed = seed;
    this.offset = offset;
    this.cipher = createCipheriv('aes-128-ctr', keyFor(seed), counterBlock(offset / 16));
    const skip = offset % 16;
    if (skip) this.cipher.update(Buffer.alloc(skip));
  }

  /**
   * @param {number} n number of bytes
   * @returns {Buffer}
   */
  next(n) {
    if (n <= 0) return Buffer.alloc(0);
    const out = this.cipher.update(Buffer.alloc(n));
    this.offset += n;
    return out;
  }
}

/**
 * Bytes [offset, offset + length) of the stream for `seed`.
 * @param {number|string|bigint} seed
 * @param {number} length
 * @param {number} [offset]
 * @returns {Buffer}
 */
export function streamBytes(seed, length, offset = 0) {
  return new StreamGenerator(seed, offset).next(length);
}

/**
 * SHA-256 (hex) of the first `length` bytes of the stream for `seed`,
 * computed in chunks (no large allocation).
 * @param {number|string|bigint} seed
 * @param {number} length
 * @returns {string}
 */
export function streamSha256(seed, length) {
  const gen = new StreamGenerator(seed);
  const hash = createHash('sha256');
  const chunk = 1 << 20;
  for (let done = 0; done < length; ) {
    const n = Math.min(chunk, length - done);
    hash.update(gen.next(n));
    done += n;
  }
  return hash.digest('hex');
}

/**
 * A Readable of the first `length` bytes of the stream for `seed`.
 * @param {number|string|bigint} seed
 * @param {number} length
 * @param {number} [chunkSize]
 * @returns {Readable}
 */
export function createStreamReadable(seed, length, chunkSize = 256 * 1024) {
  const gen = new StreamGenerator(seed);
  let left = length;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, left);
      left -= n;
      this.push(gen.next(n));
    },
  });
}

/**
 * Incremental verifier: feed received chunks with `update()`; `mismatchAt` is
 * the offset of the first differing byte (or -1), `received` the byte count.
 */
export class StreamVerifier {
  /** @param {number|string|bigint} seed */
  constructor(seed) {
    this.gen = new StreamGenerator(seed);
    this.received = 0;
    this.mismatchAt = -1;
  }

  /** @param {Buffer|Uint8Array} chunk */
  update(chunk) {
    const expected = this.gen.next(chunk.length);
    if (this.mismatchAt < 0 && Buffer.compare(expected, chunk) !== 0) {
      for (let i = 0; i < chunk.length; i++) {
        if (expected[i] !== chunk[i]) {
          this.mismatchAt = this.received + i;
          break;
        }
      }
    }
    this.received += chunk.length;
    return this;
  }

  /** True if every byte so far matched and exactly `length` bytes arrived. */
  ok(length) {
    return this.mismatchAt < 0 && this.received === length;
  }
}

/**
 * SHA-256 (hex) of a Buffer: convenience for the servers' replies.
 * @param {Buffer|Uint8Array|string} data
 * @returns {string}
 */
export function sha256Hex(data) {
  return createHash('sha256').update(data).digest('hex');
}
