/**
 * The manual, `--help` and the parser cannot drift: all three must list the
 * same options, in the same order (upstream's manual's), with the same names.
 *
 * - doc/pasta.1 and doc/passt.1 must be exactly what scripts/gen-man.js would
 *   write now (regenerate with `npm run man`), and every option needs a
 *   description in src/manual.ts.
 * - The options are read back out of the rendered pages and out of the help
 *   texts, independently of how either was produced, and fed to the parser.
 *   Both front ends parse every option (one of the other front end's is
 *   refused by the configuration, in upstream's words, not by the parser).
 * - The option table's order is the order of upstream's current manual,
 *   embedded below (CI has no upstream source to read it from).
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
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

/**
 * Every long option name of upstream's passt(1) (which is also pasta(1)), in
 * the order of its option tags (`.TP` lines), from the passt source of July
 * 2026 (commit 37a73a24). `-s` is tagged `--socket-path, --socket`.
 */
const UPSTREAM_ORDER: readonly string[] = [
  'debug', 'trace', 'stats', 'quiet', 'foreground', 'stderr', 'log-file', 'log-size', 'runas', 'conf-path', 'help', 'version',
  'pcap', 'pid', 'mtu', 'address', 'netmask', 'mac-addr', 'gateway', 'interface', 'outbound', 'outbound-if4', 'outbound-if6',
  'dns', 'dns-forward', 'dns-host', 'search', 'no-dhcp-dns', 'dhcp-dns', 'no-dhcp-search', 'dhcp-search',
  'no-tcp', 'no-udp', 'no-icmp', 'no-dhcp', 'no-ndp', 'no-dhcpv6', 'no-ra', 'freebind', 'map-host-loopback', 'no-map-gw',
  'chroot-fallback', 'map-guest-addr', 'ipv4-only', 'ipv6-only', 'hostname', 'fqdn', 'tcp-ports', 'udp-ports',
  // passt-only options
  'socket-path', 'socket', 'vhost-user', 'print-capabilities', 'repair-path', 'migrate-exit', 'migrate-no-linger', 'fd', 'one-off',
  // pasta-only options
  'ns-ifname', 'tcp-ns', 'udp-ns', 'host-lo-to-ns-lo', 'userns', 'netns', 'netns-only', 'no-netns-quit', 'config-net',
  'no-copy-routes', 'no-copy-addrs', 'ns-mac-addr', 'no-splice', 'splice-only',
];

/** The name the parser reports an option under: the canonical one for another name of it (`socket-path` is `socket`). */
function canonical(long: string): string {
  return OPTIONS.find((o) => o.long === long)?.aliasOf ?? long;
}

/** Short options either page lists: the parser of each front end accepts all of them. */
const documentedShort = new Set(
  MAN_PAGES.flatMap((p) => fromManPage(fs.readFileSync(path.join(root, p.file), 'utf8')).flatMap((o) => (o.short ? [o.short] : []))),
);

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
        // Another name of an option (--socket-path) is reported under the canonical one (socket).
        const name = canonical(o.long);
        const argv = o.value ? [`--${o.long}`, 'VALUE'] : [`--${o.long}`];
        expect(parseArgs([...argv, 'cmd'], page.mode)).toEqual({ options: [[name, o.value ? 'VALUE' : true]], rest: ['cmd'] });
        expect(parseArgs([`--${o.long}${o.value ? '=V' : ''}`], page.mode).options).toEqual([[name, o.value ? 'V' : true]]);
        if (o.short) {
          const shortArgv = o.value ? [`-${o.short}`, 'VALUE'] : [`-${o.short}`];
          expect(parseArgs(shortArgv, page.mode).options).toEqual([[name, o.value ? 'VALUE' : true]]);
        }
      }
    });

    it("and the parser accepts every option of the table, the other front end's included, and no short option that neither page lists", () => {
      // Both front ends parse every option: one of the other front end's is refused by the
      // configuration (conf.ts, "--netns is for pasta mode only"), not by the parser.
      for (const o of OPTIONS) {
        const argv = o.arg === 'required' ? [`--${o.long}`, 'VALUE'] : [`--${o.long}`];
        expect(parseArgs(argv, page.mode).options, `--${o.long}`).toEqual([[canonical(o.long), o.arg === 'required' ? 'VALUE' : true]]);
      }
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
        expect(accepted, `-${ch}`).toBe(documentedShort.has(ch));
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
  it("the table has every option of upstream's current manual, and no other, in that manual's order", () => {
    expect(OPTIONS.find((o) => o.long === 'socket-path')?.aliasOf).toBe('socket');
    // Two names of one option (--socket-path, --socket) are one entry of the order.
    const once = (names: readonly string[]): string[] => [...new Set(names.map(canonical))];
    expect(once(OPTIONS.filter((o) => !o.ours).map((o) => o.long))).toEqual(once(UPSTREAM_ORDER));
    // Ours come after all of upstream's.
    expect(OPTIONS.findIndex((o) => o.ours)).toBe(OPTIONS.length - OPTIONS.filter((o) => o.ours).length);
    expect(OPTIONS.filter((o) => o.ours).map((o) => o.long)).toEqual(['shared-engine']);
  });
});
