/**
 * The logger (src/log.ts): plain text lines with pasta(1)'s levels and
 * upstream's formats, and pino loaded only for a record that is more than a
 * message (src/log.ts). The lazy logger must answer level checks as pino does and write
 * exactly what pino would.
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

  it('writes the records of enabled levels as upstream writes them on standard error: the message alone, after the seconds since start with --debug', () => {
    for (const level of LEVELS) {
      const { log, text, close } = toFile(level);
      for (const m of METHODS) log[m](`a ${m} record`);
      close();
      const enabled = METHODS.filter((m) => pino({ level }).isLevelEnabled(m));
      const timed = level === 'trace' || level === 'debug';
      const lines = text().split('\n').filter(Boolean);
      expect(lines.length, level).toBe(enabled.length);
      lines.forEach((line, i) => {
        const re = new RegExp(`^${timed ? '\\d+\\.\\d{4}: ' : ''}a ${enabled[i]} record$`);
        expect(line, level).toMatch(re);
      });
    }
  });

  it('writes a log file as upstream does: a header line, then "SECONDS: LEVEL: message", and cuts the oldest lines when full', () => {
    const file = path.join(dir, 'pasta.log');
    const log = createLogger({ name: 'pasta', level: 'debug', file, fileSize: 40960 });
    log.info('informational');
    log.warn('a warning');
    log.error('an error');
    log.debug('debugging');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toMatch(/^pasta node-passt: \S+ \(\d+\)$/);
    expect(lines.slice(1, 5)).toEqual([
      expect.stringMatching(/^\d+\.\d{4}: info: {4}informational$/),
      expect.stringMatching(/^\d+\.\d{4}: WARNING: a warning$/),
      expect.stringMatching(/^\d+\.\d{4}: ERROR: {3}an error$/),
      expect.stringMatching(/^\d+\.\d{4}: {10}debugging$/),
    ]);
    // 40960 bytes (upstream's smallest --log-size) hold some 1300 of these lines
    for (let i = 0; i < 2000; i++) log.info(`line ${i}`);
    const after = fs.readFileSync(file, 'utf8');
    expect(after.length).toBeLessThan(40960);
    const kept = after.split('\n');
    // the header takes the place of what was cut, and says when
    expect(kept[0]).toMatch(/^pasta node-passt: \S+ \(\d+\) - log truncated at \d+\.\d{4}$/);
    // whole lines only, the oldest gone, the newest all there and in order
    expect(kept.at(-1)).toBe('');
    for (const line of kept.slice(1, -1)) expect(line).toMatch(/^\d+\.\d{4}: info: {4}line \d+$/);
    const numbers = kept.slice(1, -1).map((l) => Number(/line (\d+)$/.exec(l)![1]));
    expect(numbers.at(-1)).toBe(1999);
    expect(numbers).toEqual(numbers.map((_, k) => numbers[0]! + k));
    expect(after).not.toContain('informational');
    // each cut drops 30% of the limit, rounded up to a page: 16384 bytes
    expect(after.length).toBeGreaterThan(40960 - 16384 - 200);
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
    // The format is the one of the level the logger was made with (no timestamps at warn).
    expect(text()).toBe('written\nfrom a child\n');
  });

  it('is not a thenable: an async function can return it without loading pino', async () => {
    const log = createLogger({ name: 'pasta', level: 'warn', fd: 2 });
    const same = await (async () => log)();
    expect(same).toBe(log);
  });

  it('does not load pino for records that are a message alone, only for one with arguments', () => {
    // A fresh process: in this one other tests have loaded pino already.
    const script = `
      import { createRequire } from 'node:module';
      const { createLogger } = await import(${JSON.stringify(path.join(root, 'dist', 'log.js'))});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => /[\\\\/]pino[\\\\/]/.test(f));
      const log = createLogger({ name: 'pasta', level: 'warn', fd: 2 });
      log.debug('x'); log.info('y'); log.isLevelEnabled('trace');
      const before = loaded();
      log.warn('z');
      const message = loaded();
      log.warn('%s and %d', 'w', 2);
      console.log(JSON.stringify({ before, message, after: loaded() }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('z\nw and 2\n');
    expect(JSON.parse(r.stdout)).toEqual({ before: false, message: false, after: true });
  });
});
