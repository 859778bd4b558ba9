/**
 * The shared engine's messages (cli/shared.ts; the launcher's side is
 * native/shared-client.cc): fields separated by NUL, one message per
 * SOCK_SEQPACKET packet.
 */

/** The first field of every request: native/shared-client.cc sends the same. */
export const PROTOCOL = 'node-pasta-engine 1';

/** Split a request or reply into its NUL-separated fields. */
export function fields(buf: Buffer): string[] {
  return buf.toString('utf8').split('\0');
}

/** A message's bytes: fields NUL-separated. */
export function message(...parts: string[]): Buffer {
  return Buffer.from(parts.join('\0'));
}
