/**
 * The logger (src/log.ts): plain text lines with pasta(1)'s levels, and pino
 * loaded only on the first record at an enabled level. The lazy logger must
 * answer level checks as pino does and write exactly what pino would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createLogger, type LogLevel } from '../../src/log.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];
const METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-unit-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A logger writing to a file through `fd`, and a way to read what it wrote. */
function toFile(level: LogLevel): { log: ReturnType<typeof createLogger>; text: () => string; close: () => void } {
  const file = path.join(dir, `${level}.txt`);
  const fd = fs.openSync(file, 'w');
  return { log: createLogger({ name: 'pasta', level, fd }), text: () => fs.readFileSync(file, 'utf8'), close: () => fs.closeSync(fd) };
}

describe('createLogger', () => {
  it('answers isLevelEnabled as pino does, at every level', () => {
    for (const level of LEVELS) {
      const log = createLogger({ name: 'pasta', level, fd: 2 });
      const reference = pino({ level });
      for (const asked of [...LEVELS, 'fatal', 'nonsense']) {
        expect(log.isLevelEnabled(asked), `${level}: ${asked}`).toBe(reference.isLevelEnabled(asked));
      }
    }
  });

  it('writes the records of enabled levels as "pasta: message" lines (level prefix for warnings, errors and debugging)', () => {
    for (const level of LEVELS) {
      const { log, text, close } = toFile(level);
      for (const m of METHODS) log[m](`a ${m} record`);
      close();
      const enabled = METHODS.filter((m) => pino({ level }).isLevelEnabled(m));
      const prefix = (m: string): string => (m === 'info' ? 'pasta: ' : `pasta ${m}: `);
      expect(text(), level).toBe(enabled.map((m) => `${prefix(m)}a ${m} record\n`).join(''));
    }
  });

  it('passes the rest of the pino API through, and follows a level set later', () => {
    const { log, text, close } = toFile('warn');
    expect(log.level).toBe('warn');
    log.info('not written');
    log.level = 'debug';
    expect(log.level).toBe('debug');
    expect(log.isLevelEnabled('debug')).toBe(true);
    log.debug('written');
    log.child({}).info('from a child');
    expect(typeof log.bindings()).toBe('object');
    close();
    expect(text()).toBe('pasta debug: written\npasta: from a child\n');
  });

  it('is not a thenable: an async function can return it without loading pino', async () => {
    const log = createLogger({ name: 'pasta', level: 'warn', fd: 2 });
    const same = await (async () => log)();
    expect(same).toBe(log);
  });

  it('does not load pino until a record is written (a quiet run never loads it)', () => {
    // A fresh process: in this one other tests have loaded pino already.
    const script = `
      import { createRequire } from 'node:module';
      const { createLogger } = await import(${JSON.stringify(path.join(root, 'dist', 'log.js'))});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => /[\\\\/]pino[\\\\/]/.test(f));
      const log = createLogger({ name: 'pasta', level: 'warn', fd: 2 });
      log.debug('x'); log.info('y'); log.isLevelEnabled('trace');
      const before = loaded();
      log.warn('z');
      console.log(JSON.stringify({ before, after: loaded() }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('pasta warn: z\n');
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: true });
  });
});
