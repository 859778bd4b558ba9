// The shared engine's pieces that need no namespace: which command lines ask
// for it (sharedWanted, as native/shared-client.cc's SharedWanted) and the
// NUL-separated messages (src/cli/engine-protocol.ts). End to end: test/e2e/shared-engine.test.ts.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { fields, message, PROTOCOL } from '../../src/cli/engine-protocol.js';

// A .cts file, which vitest does not load: its build (npm test builds dist/ first).
const { sharedWanted } = createRequire(import.meta.url)('../../dist/cli/background.cjs') as {
  sharedWanted: (argv: string[], env: Record<string, string>, rootOfInitialUserns?: boolean) => boolean;
};

describe('sharedWanted', () => {
  const none = {};
  // As a user, whoever runs the tests.
  const asUser = false;
  it('is asked for by --shared-engine or an abbreviation getopt_long takes, before any --', () => {
    expect(sharedWanted(['--shared-engine', '--netns', 'x'], none, asUser)).toBe(true);
    expect(sharedWanted(['--config-net', '--sh', '1234'], none, asUser)).toBe(true);
    expect(sharedWanted(['--shared', '1234'], none, asUser)).toBe(true);
    expect(sharedWanted(['--netns', 'x'], none, asUser)).toBe(false);
    expect(sharedWanted(['--', 'sh', '--shared-engine'], none, asUser)).toBe(false);
    // Not prefixes of it.
    expect(sharedWanted(['--s', '1234'], none, asUser)).toBe(false);
    expect(sharedWanted(['--shared-engines', '1234'], none, asUser)).toBe(false);
    expect(sharedWanted(['--shared-engine=1', '1234'], none, asUser)).toBe(false);
  });

  it('is asked for by NODE_PASTA_SHARED_ENGINE (not 0), never after a fallback, never for --help or --version', () => {
    expect(sharedWanted(['1234'], { NODE_PASTA_SHARED_ENGINE: '1' }, asUser)).toBe(true);
    expect(sharedWanted(['1234'], { NODE_PASTA_SHARED_ENGINE: '0' }, asUser)).toBe(false);
    expect(sharedWanted(['1234'], { NODE_PASTA_SHARED_ENGINE: '' }, asUser)).toBe(false);
    expect(sharedWanted(['--shared-engine', '1234'], { NODE_PASTA_SHARED_FALLBACK: '1' }, asUser)).toBe(false);
    expect(sharedWanted(['--shared-engine', '--help'], none, asUser)).toBe(false);
    expect(sharedWanted(['--version'], { NODE_PASTA_SHARED_ENGINE: '1' }, asUser)).toBe(false);
  });

  it('only for a command line that may attach (--netns, or a PID last), and never as root of the initial user namespace', () => {
    expect(sharedWanted(['--shared-engine', '--config-net', '--', 'true'], none, false)).toBe(false);
    expect(sharedWanted(['--shared-engine', '--config-net'], none, false)).toBe(false);
    expect(sharedWanted(['--shared-engine', '--netns=/run/netns/a'], none, false)).toBe(true);
    expect(sharedWanted(['--shared-engine', '1234'], none, true)).toBe(false);
  });
});

describe('messages', () => {
  it('are fields separated by NUL, as the launcher sends and reads them', () => {
    const request = Buffer.from('node-pasta-engine 1\0/home/u\0--netns\0/run/netns/a b\0-t\0' + '80');
    expect(fields(request)).toEqual([PROTOCOL, '/home/u', '--netns', '/run/netns/a b', '-t', '80']);
    expect([...message('ok', '0', '/tmp/p.pid', '')]).toEqual([...Buffer.from('ok\x000\x00/tmp/p.pid\x00')]);
    expect(fields(message('quit', '1', 'the shared engine was stopped (SIGTERM)'))).toEqual(['quit', '1', 'the shared engine was stopped (SIGTERM)']);
  });
});
