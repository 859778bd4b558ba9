/**
 * What the pasta command line's two servers — a pasta process of its own
 * (cli/pasta.ts) and the shared engine (cli/shared.ts) — read from parsed
 * arguments the same way.
 */
import { GetoptError, type ParsedArgs } from '../options.js';

/** Does this command line attach to an existing namespace (--netns, or a lone PID, as conf.ts reads them)? */
export function attaches(parsed: ParsedArgs): boolean {
  return parsed.options.some(([n]) => n === 'netns') || (parsed.rest.length === 1 && /^\d+$/.test(parsed.rest[0]));
}

/**
 * An error as pasta(1) prints it: a parser error after the program's name,
 * as glibc's getopt prints it ("pasta: unrecognized option '--foo'"),
 * anything else as upstream's die() prints it, the message alone.
 */
export function errorText(err: unknown): string {
  if (err instanceof GetoptError) return `pasta: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
