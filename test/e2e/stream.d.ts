// Types for stream.js (deterministic test streams); see that file.
import type { Readable } from 'node:stream';

export type Seed = number | string | bigint;

export declare class StreamGenerator {
  constructor(seed: Seed, offset?: number);
  readonly seed: Seed;
  offset: number;
  /** The next n bytes of the stream. */
  next(n: number): Buffer;
}

/** Bytes [offset, offset + length) of the stream for seed. */
export declare function streamBytes(seed: Seed, length: number, offset?: number): Buffer;
/** SHA-256 (hex) of the first length bytes of the stream for seed. */
export declare function streamSha256(seed: Seed, length: number): string;
/** A Readable of the first length bytes of the stream for seed. */
export declare function createStreamReadable(seed: Seed, length: number, chunkSize?: number): Readable;

export declare class StreamVerifier {
  constructor(seed: Seed);
  received: number;
  /** Offset of the first differing byte, or -1. */
  mismatchAt: number;
  update(chunk: Buffer | Uint8Array): this;
  /** Every byte matched and exactly length bytes arrived. */
  ok(length: number): boolean;
}

export declare function sha256Hex(data: Buffer | Uint8Array | string): string;
