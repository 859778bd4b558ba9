/**
 * The manual, `--help` and the parser cannot drift: all three must list the
 * same options, in the same (pasta(1)'s) order, with the same names.
 *
 * - doc/pasta.1 must be exactly what scripts/gen-man.js would write now
 *   (regenerate with `npm run man`), and every option needs a description in
 *   src/manual.ts.
 * - The options are read back out of the rendered page and out of the help
 *   text, independently of how either was produced, and fed to the parser.
 * - Where Debian's pasta(1) manual is installed, our order must be its order.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { OPTIONS, helpText, parseArgs, UsageError } from '../../src/options.js';
import { MAN_PAGES, optionsFor, renderManPage, strayDescriptions, undescribedOptions } from '../../src/manual.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

interface Listed {
  short?: string;
  long: string;
  value?: string;
}

/** Options as the man page's OPTIONS section lists them (the tag line after each .TP). */
function fromManPage(source: string): Listed[] {
  const section = source.split(/^\.SH /m).find((s) => s.startsWith('OPTIONS'));
  if (!section) throw new Error('no OPTIONS section');
  const lines = section.split('\n');
  const out: Listed[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '.TP') continue;
    const tag = lines[i + 1].replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '');
    const m = /^(?:-(\S), )?--([a-z0-9-]+)(?: (\S+))?$/.exec(tag);
    if (!m) throw new Error(`unexpected option tag: ${lines[i + 1]}`);
    out.push({ short: m[1], long: m[2], value: m[3] });
  }
  return out;
}

/** Options as `--help` lists them. */
function fromHelp(text: string): Listed[] {
  const out: Listed[] = [];
  for (const line of text.split('\n')) {
    const m = /^ {2}(?:-(\S), | {4})--([a-z0-9-]+)(?: ([A-Z]\S*))? {2,}\S/.exec(line);
    if (m) out.push({ short: m[1], long: m[2], value: m[3] });
  }
  return out;
}

/** The table, in the same shape. */
function fromTable(mode: 'pasta' | 'passt'): Listed[] {
  return optionsFor(mode).map((o) => ({ short: o.short, long: o.long, value: o.valueName }));
}

/** Long option names in the order Debian's pasta(1) manual lists them, or undefined if it is not installed. */
function upstreamOrder(): string[] | undefined {
  for (const file of ['/usr/share/man/man1/pasta.1.gz', '/usr/share/man/man1/pasta.1']) {
    let source: string;
    try {
      const raw = fs.readFileSync(file);
      source = (file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw).toString('utf8');
    } catch {
      continue;
    }
    // Each option is a tag line after .TP, such as `.BR \-l ", " \-\-log-file " " \fIPATH\fR`.
    const names: string[] = [];
    for (const m of source.matchAll(/^\.TP\n\.BR? (.*)$/gm)) {
      const long = /\\-\\-([a-z0-9\\-]+)/.exec(m[1]);
      if (long) names.push(long[1].replace(/\\-/g, '-'));
    }
    return names.length ? names : undefined;
  }
  return undefined;
}

for (const page of MAN_PAGES) {
  describe(`${page.file}`, () => {
    const committed = fs.readFileSync(path.join(root, page.file), 'utf8');

    it('every option of the table has a description, and no description is left over', () => {
      expect(undescribedOptions(page.mode)).toEqual([]);
      expect(strayDescriptions()).toEqual([]);
    });

    it('is what scripts/gen-man.js generates now (run "npm run man" after changing options or prose)', () => {
      expect(committed).toBe(renderManPage(page, version));
    });

    it('lists the same options as --help and the table, in the same order, with the same value names', () => {
      const table = fromTable(page.mode);
      expect(table.length).toBeGreaterThan(0);
      expect(fromManPage(committed)).toEqual(table);
      expect(fromHelp(helpText(page.mode))).toEqual(table);
    });

    it('lists only options the parser accepts, as --long VALUE, --long=VALUE and -short VALUE', () => {
      for (const o of fromManPage(committed)) {
        const argv = o.value ? [`--${o.long}`, 'VALUE'] : [`--${o.long}`];
        expect(parseArgs([...argv, 'cmd'], page.mode)).toEqual({ options: [[o.long, o.value ? 'VALUE' : true]], rest: ['cmd'] });
        expect(parseArgs([`--${o.long}${o.value ? '=V' : ''}`], page.mode).options).toEqual([[o.long, o.value ? 'V' : true]]);
        if (o.short) {
          const shortArgv = o.value ? [`-${o.short}`, 'VALUE'] : [`-${o.short}`];
          expect(parseArgs(shortArgv, page.mode).options).toEqual([[o.long, o.value ? 'VALUE' : true]]);
        }
      }
    });

    it('and the parser accepts no short option the page does not list', () => {
      const listed = new Set(fromManPage(committed).flatMap((o) => (o.short ? [o.short] : [])));
      const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
      for (const ch of chars) {
        let accepted: boolean;
        try {
          parseArgs([`-${ch}`, 'VALUE'], page.mode);
          accepted = true;
        } catch (err) {
          if (!(err instanceof UsageError)) throw err;
          accepted = false;
        }
        expect(accepted, `-${ch}`).toBe(listed.has(ch));
      }
      expect(() => parseArgs(['--no-such-option'], page.mode)).toThrow(UsageError);
    });

    it('has the sections a manual page needs, and renders without warnings', () => {
      const sections = [...committed.matchAll(/^\.SH "?([A-Z ]+?)"?$/gm)].map((m) => m[1]);
      expect(sections).toEqual(['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'EXAMPLES', 'NOTES', 'SEE ALSO']);
      expect(committed).toMatch(/^\.SS "Address mapping of the gateway"$/m);
      expect(committed).toContain(`node\\-passt ${version}`);
      // No source line may start with a control character by accident.
      for (const line of committed.split('\n')) {
        if (/^[.']/.test(line)) expect(line, line).toMatch(/^\.(\\"|TH|SH|SS|TP|PP|IP|RS|RE|nf|fi|B|BR|br)( |$)/);
      }
      const groff = spawnSync('groff', ['-man', '-ww', '-z', path.join(root, page.file)], { encoding: 'utf8' });
      if (groff.error) return; // groff not installed: the checks above still ran
      expect(groff.stderr).toBe('');
      expect(groff.status).toBe(0);
    });
  });
}

describe('option order', () => {
  it("follows Debian's pasta(1) where both have an option", () => {
    const upstream = upstreamOrder();
    if (!upstream) return; // passt's manual not installed (npm test's pretest installs it)
    const position = new Map<string, number>();
    upstream.forEach((name, i) => {
      if (!position.has(name)) position.set(name, i);
    });
    const ours = OPTIONS.map((o) => o.long).filter((name) => position.has(name));
    expect(ours.length).toBeGreaterThan(10);
    const sorted = [...ours].sort((a, b) => position.get(a)! - position.get(b)!);
    expect(ours).toEqual(sorted);
  });
});
