import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EPHEMERAL_PORTS,
  describePortSpec,
  formatForwardRule,
  forwardRule,
  forwardedPort,
  listeningPorts,
  parsePortSpecs,
  udpDefaultsFromTcp,
  type ForwardRule,
  type PortForwardSpec,
  type PortOption,
} from '../../src/fwd/spec.js';
import { UsageError } from '../../src/options.js';
import { parseIPv4, parseIPv6 } from '../../src/inet.js';

const v4 = (s: string) => parseIPv4(s)!;
const v6 = (s: string) => parseIPv6(s)!;

/** The rules of a spec as text, one string per rule. */
const rulesOf = (spec: PortForwardSpec): string[] => spec.rules.map(formatForwardRule);

const pasta = (option: PortOption, ...values: string[]) => parsePortSpecs(option, values, 'pasta');
const passt = (option: PortOption, ...values: string[]) => parsePortSpecs(option, values, 'passt');

describe('parsePortSpecs: forms', () => {
  // [option, values, rules as formatForwardRule prints them]
  const table: Array<[string, PortOption, string[], string[]]> = [
    // The examples of pasta(1) and passt(1), literally.
    ['man: -t 22', '-t', ['22'], ['*:22']],
    ['man: -t 22:23', '-t', ['22:23'], ['*:22 => 23']],
    ['man: -t 22,25', '-t', ['22,25'], ['*:22', '*:25']],
    ['man: -t 22-80', '-t', ['22-80'], ['*:22-80']],
    ['man: -t 22-80:32-90', '-t', ['22-80:32-90'], ['*:22-80 => 32-90']],
    ['man: -t 192.0.2.1/22', '-t', ['192.0.2.1/22'], ['192.0.2.1:22']],
    ['man: -t 192.0.2.1%eth0/22', '-t', ['192.0.2.1%eth0/22'], ['192.0.2.1%eth0:22']],
    ['man: -t 2000-5000,~3000-3010', '-t', ['2000-5000,~3000-3010'], ['*:2000-2999', '*:3011-5000']],
    ['man: -t 192.0.2.1/20-30,~25', '-t', ['192.0.2.1/20-30,~25'], ['192.0.2.1:20-24', '192.0.2.1:26-30']],
    [
      'man: -t ~20000-20010',
      '-t',
      ['~20000-20010'],
      ['*:1-19999 (best effort)', '*:20011-32767 (best effort)', '*:61000-65535 (best effort)'],
    ],
    // What Podman 5 passes.
    ['podman -p 8080:80', '-t', ['8080-8080:80-80'], ['*:8080 => 80']],
    ['podman -p 127.0.0.1:8081:80', '-t', ['127.0.0.1/8081-8081:80-80'], ['127.0.0.1:8081 => 80']],
    ['podman -p 7000-7002:8000-8002', '-t', ['7000-7002:8000-8002'], ['*:7000-7002 => 8000-8002']],
    ['podman -p 9000:9000/udp', '-u', ['9000-9000:9000-9000'], ['*:9000']],
    ['podman pasta:-T,5432', '-T', ['5432'], ['*:5432']],
    [
      'podman, several -p',
      '-t',
      ['127.0.0.1/8081-8081:80-80', '7000-7002:8000-8002'],
      ['127.0.0.1:8081 => 80', '*:7000-7002 => 8000-8002'],
    ],
    // Addresses and interfaces.
    ['IPv6 in brackets', '-t', ['[2001:db8::1]/8080'], ['[2001:db8::1]:8080']],
    ['IPv6 without brackets', '-t', ['::1/8080'], ['[::1]:8080']],
    ['IPv6 with a mapping', '-u', ['2001:db8::1/22-80:32-90'], ['[2001:db8::1]:22-80 => 32-90']],
    ['IPv4 in brackets', '-t', ['[192.0.2.1]/22'], ['192.0.2.1:22']],
    ['interface only', '-t', ['%eth0/22'], ['*%eth0:22']],
    ['interface of 15 bytes', '-t', ['%abcdefghijklmno/22'], ['*%abcdefghijklmno:22']],
    ['IPv6 in brackets with interface', '-t', ['[fe80::1]%eth0/22'], ['[fe80::1]%eth0:22']],
    ['IPv6 link-local with interface', '-t', ['fe80::1%eth0/22'], ['[fe80::1]%eth0:22']],
    ['IPv4-mapped IPv6 is IPv4', '-t', ['::ffff:192.0.2.1/22'], ['192.0.2.1:22']],
    ['unspecified IPv4', '-t', ['0.0.0.0/80'], ['0.0.0.0:80']],
    ['unspecified IPv6', '-t', ['[::]/80'], ['[::]:80']],
    ['address and exclusions only', '-t', ['127.0.0.1/~1-1023'], ['127.0.0.1:1024-32767 (best effort)', '127.0.0.1:61000-65535 (best effort)']],
    // Ports and ranges.
    ['lowest and highest ports', '-t', ['1,65535'], ['*:1', '*:65535']],
    ['whole range', '-t', ['1-65535'], ['*:1-65535']],
    ['leading zeros (strtoul)', '-t', ['080:0443'], ['*:80 => 443']],
    ['mapping to lower ports', '-t', ['8000-8010:80-90'], ['*:8000-8010 => 80-90']],
    ['exclusion before the range', '-t', ['~25,20-30'], ['*:20-24', '*:26-30']],
    ['exclusion at the start of a range', '-t', ['20-30,~20'], ['*:21-30']],
    ['exclusion at the end of a range', '-t', ['20-30,~30'], ['*:20-29']],
    ['exclusion beyond both edges', '-t', ['20-30,~10-20,~30-40'], ['*:21-29']],
    ['exclusion of the whole range', '-t', ['20-30,~20-30'], []],
    ['exclusion outside every range', '-t', ['20-30,~100'], ['*:20-30']],
    ['overlapping exclusions', '-t', ['1-10,~2-5,~4-6'], ['*:1', '*:7-10']],
    ['exclusions keep the translation', '-t', ['22-80:32-90,~25'], ['*:22-24 => 32-34', '*:26-80 => 36-90']],
    ['exclusion of port 0 is harmless', '-t', ['~0-1023'], ['*:1024-32767 (best effort)', '*:61000-65535 (best effort)']],
    ['exclusions apply to every range of the value', '-t', ['10-20,30-40,~15-35'], ['*:10-14', '*:36-40']],
    ['ranges in any order', '-t', ['9000,22,443-444'], ['*:9000', '*:22', '*:443-444']],
    // Several occurrences add up.
    ['occurrences add up', '-t', ['22', '80:8080', '192.0.2.1/443'], ['*:22', '*:80 => 8080', '192.0.2.1:443']],
    ['same port on different addresses', '-t', ['192.0.2.1/80', '192.0.2.2/80:81', '[2001:db8::1]/80'], ['192.0.2.1:80', '192.0.2.2:80 => 81', '[2001:db8::1]:80']],
    ['same port on 0.0.0.0 and an IPv6 address', '-t', ['0.0.0.0/80', '::1/80'], ['0.0.0.0:80', '[::1]:80']],
    ['adjacent ranges', '-t', ['1-100', '101-200:1101-1200'], ['*:1-100', '*:101-200 => 1101-1200']],
  ];

  it.each(table)('%s', (_name, option, values, rules) => {
    const spec = parsePortSpecs(option, values, 'pasta');
    expect(spec.mode).toBe('ports');
    expect(spec.option).toBe(option);
    expect(spec.values).toEqual(values);
    expect(rulesOf(spec)).toEqual(rules);
  });

  it('passt parses the same lists', () => {
    for (const [, option, values, rules] of table) {
      if (option === '-T' || option === '-U') continue;
      expect(rulesOf(parsePortSpecs(option, values, 'passt'))).toEqual(rules);
    }
  });

  it('gives rules their full structure', () => {
    expect(pasta('-t', '192.0.2.1%eth0/22-80:32-90').rules).toEqual([
      { addr: v4('192.0.2.1'), family: 4, ifname: 'eth0', from: 22, to: 80, targetFrom: 32, weak: false, source: '192.0.2.1%eth0/22-80:32-90' },
    ]);
    expect(pasta('-t', '[2001:db8::1]/8080').rules).toEqual([
      { addr: v6('2001:db8::1'), family: 6, ifname: null, from: 8080, to: 8080, targetFrom: 8080, weak: false, source: '[2001:db8::1]/8080' },
    ]);
    expect(pasta('-t', '%eth0/22').rules).toEqual([
      { addr: null, family: 0, ifname: 'eth0', from: 22, to: 22, targetFrom: 22, weak: false, source: '%eth0/22' },
    ]);
    expect(pasta('-u', '9000-9000:9000-9000').rules).toEqual([
      { addr: null, family: 0, ifname: null, from: 9000, to: 9000, targetFrom: 9000, weak: false, source: '9000-9000:9000-9000' },
    ]);
  });
});

describe('parsePortSpecs: keywords and defaults', () => {
  it('none', () => {
    for (const option of ['-t', '-u', '-T', '-U'] as const) {
      const spec = pasta(option, 'none');
      expect(spec).toEqual({ option, mode: 'none', rules: [], values: ['none'] });
    }
    expect(passt('-t', 'none').mode).toBe('none');
    expect(passt('-u', 'none').mode).toBe('none');
  });

  it('the whole Podman default: -t none -u none -T none -U none', () => {
    const specs = (['-t', '-u', '-T', '-U'] as const).map((o) => pasta(o, 'none'));
    expect(specs.map(describePortSpec)).toEqual(['-t: none', '-u: none', '-T: none', '-U: none']);
  });

  it('auto (pasta) has no static rules', () => {
    for (const option of ['-t', '-u', '-T', '-U'] as const) {
      const spec = pasta(option, 'auto');
      expect(spec.mode).toBe('auto');
      expect(spec.rules).toEqual([]);
    }
    expect(forwardedPort(pasta('-t', 'auto'), 80)).toBe(-1);
  });

  it('all: every non-ephemeral port on every address, best effort, in pasta and passt', () => {
    for (const spec of [pasta('-t', 'all'), passt('-u', 'all'), pasta('-T', 'all')]) {
      expect(spec.mode).toBe('all');
      expect(rulesOf(spec)).toEqual(['*:1-32767 (best effort)', '*:61000-65535 (best effort)']);
      expect(spec.rules.every((r) => r.weak && r.addr === null && r.source === 'all')).toBe(true);
      expect(forwardedPort(spec, 1)).toBe(1);
      expect(forwardedPort(spec, 32767)).toBe(32767);
      expect(forwardedPort(spec, 32768)).toBe(-1);
      expect(forwardedPort(spec, 60999)).toBe(-1);
      expect(forwardedPort(spec, 61000)).toBe(61000);
      expect(forwardedPort(spec, 65535, v6('2001:db8::1'))).toBe(65535);
    }
  });

  it('all and exclusions only follow the ephemeral range given', () => {
    const ephemeral = { first: 40000, last: 50000 };
    expect(rulesOf(parsePortSpecs('-t', ['all'], 'passt', { ephemeral }))).toEqual([
      '*:1-39999 (best effort)',
      '*:50001-65535 (best effort)',
    ]);
    expect(rulesOf(parsePortSpecs('-t', ['~22'], 'pasta', { ephemeral: { first: 60000, last: 65535 } }))).toEqual([
      '*:1-21 (best effort)',
      '*:23-59999 (best effort)',
    ]);
    // Explicit ranges are not cut by the ephemeral range.
    expect(rulesOf(parsePortSpecs('-t', ['32760-32770'], 'pasta'))).toEqual(['*:32760-32770']);
    expect(DEFAULT_EPHEMERAL_PORTS).toEqual({ first: 32768, last: 60999 });
  });

  it('rejects an invalid ephemeral range as a programming error', () => {
    expect(() => parsePortSpecs('-t', ['all'], 'pasta', { ephemeral: { first: 0, last: 10 } })).toThrow(RangeError);
    expect(() => parsePortSpecs('-t', ['all'], 'pasta', { ephemeral: { first: 20, last: 10 } })).toThrow(
      'parsePortSpecs: invalid ephemeral port range 20-10',
    );
    expect(() => parsePortSpecs('-t', ['all'], 'pasta', { ephemeral: { first: 1, last: 65536 } })).toThrow(RangeError);
  });

  it('a keyword may be repeated', () => {
    expect(pasta('-t', 'none', 'none').mode).toBe('none');
    expect(pasta('-t', 'auto', 'auto').mode).toBe('auto');
    expect(rulesOf(pasta('-t', 'all', 'all'))).toEqual(['*:1-32767 (best effort)', '*:61000-65535 (best effort)']);
  });

  it('no values: the default is auto for pasta, none for passt', () => {
    for (const option of ['-t', '-u', '-T', '-U'] as const) {
      expect(pasta(option)).toEqual({ option, mode: 'auto', rules: [], values: [] });
    }
    expect(passt('-t')).toEqual({ option: '-t', mode: 'none', rules: [], values: [] });
    expect(passt('-u')).toEqual({ option: '-u', mode: 'none', rules: [], values: [] });
  });
});

describe('parsePortSpecs: the result is immutable', () => {
  it('freezes the spec, its rules and its values', () => {
    const spec = pasta('-t', '22', '80');
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.rules)).toBe(true);
    expect(Object.isFrozen(spec.values)).toBe(true);
    expect(spec.rules.every((r) => Object.isFrozen(r))).toBe(true);
    expect(() => (spec.rules as ForwardRule[]).push(spec.rules[0]!)).toThrow(TypeError);
  });

  it('copies the values array', () => {
    const values = ['22'];
    const spec = parsePortSpecs('-t', values, 'pasta');
    values.push('80');
    expect(spec.values).toEqual(['22']);
  });
});

describe('a 1000-port range', () => {
  const spec = pasta('-t', '10000-10999:20000-20999,~10500');

  it('is two rules around the exclusion', () => {
    expect(rulesOf(spec)).toEqual(['*:10000-10499 => 20000-20499', '*:10501-10999 => 20501-20999']);
  });

  it.each([
    [9999, -1],
    [10000, 20000],
    [10001, 20001],
    [10123, 20123],
    [10499, 20499],
    [10500, -1],
    [10501, 20501],
    [10777, 20777],
    [10998, 20998],
    [10999, 20999],
    [11000, -1],
  ])('port %i goes to %i', (port, target) => {
    expect(forwardedPort(spec, port)).toBe(target);
    expect(forwardedPort(spec, port, v4('198.51.100.2'))).toBe(target);
    expect(forwardedPort(spec, port, v6('2001:db8::2'))).toBe(target);
  });

  it('lists 999 listening ports with their targets', () => {
    const ports = [...listeningPorts(spec)];
    expect(ports).toHaveLength(999);
    expect(ports[0]).toMatchObject({ port: 10000, target: 20000 });
    expect(ports[499]).toMatchObject({ port: 10499, target: 20499 });
    expect(ports[500]).toMatchObject({ port: 10501, target: 20501 });
    expect(ports[998]).toMatchObject({ port: 10999, target: 20999 });
    expect(ports.every((p) => p.target - p.port === 10000)).toBe(true);
    expect(ports.some((p) => p.port === 10500)).toBe(false);
    expect(ports[500]!.rule).toBe(spec.rules[1]);
  });
});

describe('forwardedPort and forwardRule', () => {
  const spec = pasta('-t', '192.0.2.1/80:8080', '192.0.2.2/80:9090', '0.0.0.0/443:8443', '[::]/443:9443', '[2001:db8::1]/2222', '22-25:122-125,~24', '%eth0/3000');

  it.each<[string, number, string | undefined, number]>([
    ['specific IPv4 address', 80, '192.0.2.1', 8080],
    ['another specific IPv4 address', 80, '192.0.2.2', 9090],
    ['an address without a rule', 80, '192.0.2.3', -1],
    ['no address: the first binding that forwards it', 80, undefined, 8080],
    ['IPv4 unspecified binding, IPv4 address', 443, '198.51.100.2', 8443],
    ['IPv6 unspecified binding, IPv6 address', 443, '2001:db8::2', 9443],
    ['IPv4-mapped IPv6 is IPv4', 443, '::ffff:198.51.100.2', 8443],
    ['IPv4-mapped IPv6, specific', 80, '::ffff:192.0.2.2', 9090],
    ['specific IPv6 address', 2222, '2001:db8::1', 2222],
    ['specific IPv6 binding, other address', 2222, '2001:db8::2', -1],
    ['any binding, IPv4', 22, '192.0.2.1', 122],
    ['any binding, other IPv6', 22, '2001:db8::99', 122],
    ['any binding, excluded port', 24, '192.0.2.1', -1],
    ['any binding, after the exclusion', 25, '192.0.2.1', 125],
    ['interface only is on every address', 3000, '10.0.0.1', 3000],
    ['port not forwarded', 81, '192.0.2.1', -1],
  ])('%s', (_name, port, addr, target) => {
    const address = addr === undefined ? undefined : (parseIPv4(addr) ?? parseIPv6(addr));
    expect(forwardedPort(spec, port, address)).toBe(target);
  });

  it('returns the rule itself', () => {
    expect(forwardRule(spec, 80, v4('192.0.2.2'))).toBe(spec.rules[1]);
    expect(forwardRule(spec, 25)).toBe(spec.rules[6]);
    expect(forwardRule(spec, 24)).toBeUndefined();
  });

  it('answers -1 for ports that are not ports and addresses that are not addresses', () => {
    for (const port of [0, -1, 65536, 1.5, Number.NaN]) expect(forwardedPort(spec, port)).toBe(-1);
    expect(forwardedPort(spec, 22, new Uint8Array(5))).toBe(-1);
    expect(forwardedPort(spec, 22, new Uint8Array(0))).toBe(-1);
  });

  it('none has nothing', () => {
    expect(forwardedPort(pasta('-t', 'none'), 22)).toBe(-1);
  });

  it('works on a spec made by hand', () => {
    const rule: ForwardRule = { addr: null, family: 0, ifname: null, from: 100, to: 109, targetFrom: 200, weak: false, source: 'x' };
    const handmade: PortForwardSpec = { option: '-t', mode: 'ports', rules: [rule], values: ['x'] };
    expect(forwardedPort(handmade, 105)).toBe(205);
    expect(forwardedPort(handmade, 110)).toBe(-1);
  });

  it('lists every listening port of every rule in order', () => {
    const ports = [...listeningPorts(pasta('-t', '22,25-26:35-36', '192.0.2.1/80'))].map((p) => [p.port, p.target, p.rule.source]);
    expect(ports).toEqual([
      [22, 22, '22,25-26:35-36'],
      [25, 35, '22,25-26:35-36'],
      [26, 36, '22,25-26:35-36'],
      [80, 80, '192.0.2.1/80'],
    ]);
    expect([...listeningPorts(pasta('-t', 'none'))]).toEqual([]);
    expect([...listeningPorts(pasta('-t', 'all'))]).toHaveLength(32767 + 4536);
  });
});

describe('udpDefaultsFromTcp', () => {
  it('forwards the same UDP ports without translation', () => {
    const udp = udpDefaultsFromTcp(pasta('-t', '22-80:32-90,~25', '127.0.0.1/8081-8081:80-80', '%eth0/5000'));
    expect(udp.option).toBe('-u');
    expect(udp.mode).toBe('ports');
    expect(rulesOf(udp)).toEqual(['*:22-24', '*:26-80', '127.0.0.1:8081', '*%eth0:5000']);
    expect(forwardedPort(udp, 50)).toBe(50);
    expect(forwardedPort(udp, 8081, v4('127.0.0.1'))).toBe(8081);
    expect(forwardedPort(udp, 25)).toBe(-1);
    expect(Object.isFrozen(udp.rules)).toBe(true);
  });

  it('keeps the mode of -t and maps -T to -U', () => {
    expect(udpDefaultsFromTcp(pasta('-t', 'none'))).toMatchObject({ option: '-u', mode: 'none', rules: [] });
    expect(udpDefaultsFromTcp(pasta('-t', 'auto'))).toMatchObject({ option: '-u', mode: 'auto', rules: [] });
    expect(udpDefaultsFromTcp(pasta('-t'))).toMatchObject({ option: '-u', mode: 'auto', rules: [] });
    expect(udpDefaultsFromTcp(passt('-t'))).toMatchObject({ option: '-u', mode: 'none', rules: [] });
    const all = udpDefaultsFromTcp(passt('-t', 'all'));
    expect(all.mode).toBe('all');
    expect(rulesOf(all)).toEqual(['*:1-32767 (best effort)', '*:61000-65535 (best effort)']);
    const ns = udpDefaultsFromTcp(pasta('-T', '5432:6543'));
    expect(ns.option).toBe('-U');
    expect(rulesOf(ns)).toEqual(['*:5432']);
  });

  it('takes only a TCP spec', () => {
    expect(() => udpDefaultsFromTcp(pasta('-u', '53'))).toThrow('udpDefaultsFromTcp: expected the spec of -t or -T, got -u');
  });
});

describe('describePortSpec', () => {
  it.each<[PortOption, string[], 'pasta' | 'passt', string]>([
    ['-t', ['none'], 'pasta', '-t: none'],
    ['-t', ['auto'], 'pasta', '-t: auto'],
    ['-u', [], 'pasta', '-u: auto'],
    ['-u', [], 'passt', '-u: none'],
    ['-t', ['all'], 'passt', '-t: all: *:1-32767 (best effort), *:61000-65535 (best effort)'],
    ['-t', ['8080-8080:80-80', '127.0.0.1/8081-8081:80-80'], 'pasta', '-t: *:8080 => 80, 127.0.0.1:8081 => 80'],
    ['-t', ['[2001:db8::1]%eth0/22-80:32-90'], 'pasta', '-t: [2001:db8::1]%eth0:22-80 => 32-90'],
    ['-T', ['5432'], 'pasta', '-T: *:5432'],
    ['-t', ['22,~22'], 'pasta', '-t: no ports'],
  ])('%s %j (%s)', (option, values, mode, text) => {
    expect(describePortSpec(parsePortSpecs(option, values, mode))).toBe(text);
  });
});

describe('parsePortSpecs: errors', () => {
  // [option, values, mode, exact message]
  const errors: Array<[PortOption, string[], 'pasta' | 'passt', string]> = [
    // Port numbers and ranges.
    ['-t', ['0'], 'pasta', "-t: invalid port '0' in '0': ports are 1 to 65535"],
    ['-t', ['0-10'], 'pasta', "-t: invalid port '0' in '0-10': ports are 1 to 65535"],
    ['-t', ['22:0'], 'pasta', "-t: invalid port '0' in '22:0': ports are 1 to 65535"],
    ['-t', ['65536'], 'pasta', "-t: invalid port '65536' in '65536': ports are 1 to 65535"],
    ['-t', ['1-65536'], 'pasta', "-t: invalid port '65536' in '1-65536': ports are 1 to 65535"],
    ['-u', ['22:70000'], 'pasta', "-u: invalid port '70000' in '22:70000': ports are 1 to 65535"],
    ['-t', ['99999999999999999999999'], 'pasta', "-t: invalid port '99999999999999999999999' in '99999999999999999999999': ports are 1 to 65535"],
    ['-t', ['~65536'], 'pasta', "-t: invalid port '65536' in '~65536': ports are 1 to 65535"],
    ['-t', ['80-22'], 'pasta', "-t: invalid port range '80-22' in '80-22'"],
    ['-t', ['22:90-32'], 'pasta', "-t: invalid port range '90-32' in '22:90-32'"],
    ['-t', ['1-10,~30-20'], 'pasta', "-t: invalid port range '30-20' in '1-10,~30-20'"],
    ['-t', ['192.0.2.1/80-22'], 'pasta', "-t: invalid port range '80-22' in '192.0.2.1/80-22'"],
    // Mappings.
    ['-t', ['22-80:32-91'], 'pasta', "-t: invalid mapping '22-80:32-91' in '22-80:32-91': 59 ports to 60"],
    ['-t', ['22:32-33'], 'pasta', "-t: invalid mapping '22:32-33' in '22:32-33': 1 port to 2"],
    ['-t', ['22-23:32'], 'pasta', "-t: invalid mapping '22-23:32' in '22-23:32': 2 ports to 1"],
    ['-u', ['53,22-80:32-91'], 'pasta', "-u: invalid mapping '22-80:32-91' in '53,22-80:32-91': 59 ports to 60"],
    // Garbage.
    ['-t', ['abc'], 'pasta', "-t: invalid port specifier 'abc' in 'abc'"],
    ['-t', ['22-'], 'pasta', "-t: invalid port specifier '22-' in '22-'"],
    ['-t', ['-22'], 'pasta', "-t: invalid port specifier '-22' in '-22'"],
    ['-t', ['22:'], 'pasta', "-t: invalid port specifier '22:' in '22:'"],
    ['-t', [':22'], 'pasta', "-t: invalid port specifier ':22' in ':22'"],
    ['-t', ['22:23:24'], 'pasta', "-t: invalid port specifier '22:23:24' in '22:23:24'"],
    ['-t', ['22-23-24'], 'pasta', "-t: invalid port specifier '22-23-24' in '22-23-24'"],
    ['-t', [' 22'], 'pasta', "-t: invalid port specifier ' 22' in ' 22'"],
    ['-t', ['+22'], 'pasta', "-t: invalid port specifier '+22' in '+22'"],
    ['-t', ['0x16'], 'pasta', "-t: invalid port specifier '0x16' in '0x16'"],
    ['-t', ['1e3'], 'pasta', "-t: invalid port specifier '1e3' in '1e3'"],
    ['-t', ['22,abc'], 'pasta', "-t: invalid port specifier 'abc' in '22,abc'"],
    ['-t', ['~'], 'pasta', "-t: invalid exclusion '~' in '~'"],
    ['-t', ['~22:23'], 'pasta', "-t: invalid exclusion '~22:23' in '~22:23'"],
    ['-t', ['1-100,~~5'], 'pasta', "-t: invalid exclusion '~~5' in '1-100,~~5'"],
    ['-t', ['NONE'], 'pasta', "-t: invalid port specifier 'NONE' in 'NONE'"],
    ['-t', [''], 'pasta', "-t: empty port specification ''"],
    ['-t', ['22,,23'], 'pasta', "-t: empty item in '22,,23'"],
    ['-t', ['22,'], 'pasta', "-t: empty item in '22,'"],
    ['-t', [',22'], 'pasta', "-t: empty item in ',22'"],
    ['-t', ['192.0.2.1/'], 'pasta', "-t: missing ports in '192.0.2.1/'"],
    ['-t', ['/'], 'pasta', "-t: invalid address '' in '/'"],
    // Keywords inside a list.
    ['-t', ['auto,22'], 'pasta', "-t: 'auto' must be given alone, not in 'auto,22'"],
    ['-t', ['22,none'], 'pasta', "-t: 'none' must be given alone, not in '22,none'"],
    ['-t', ['192.0.2.1/all'], 'pasta', "-t: 'all' must be given alone, not in '192.0.2.1/all'"],
    // Addresses.
    ['-t', ['192.0.2.256/22'], 'pasta', "-t: invalid address '192.0.2.256' in '192.0.2.256/22'"],
    ['-t', ['192.0.2/22'], 'pasta', "-t: invalid address '192.0.2' in '192.0.2/22'"],
    ['-t', ['localhost/22'], 'pasta', "-t: invalid address 'localhost' in 'localhost/22'"],
    ['-t', ['/22'], 'pasta', "-t: invalid address '' in '/22'"],
    ['-t', ['[]/22'], 'pasta', "-t: invalid address '[]' in '[]/22'"],
    ['-t', ['[::1/22'], 'pasta', "-t: invalid address '[::1' in '[::1/22'"],
    ['-t', ['2001:db8:::1/22'], 'pasta', "-t: invalid address '2001:db8:::1' in '2001:db8:::1/22'"],
    ['-t', ['192.0.2.1/24/22'], 'pasta', "-t: invalid address '192.0.2.1/24' in '192.0.2.1/24/22'"],
    ['-u', ['[2001:db8::g]/53'], 'pasta', "-u: invalid address '[2001:db8::g]' in '[2001:db8::g]/53'"],
    // Interfaces.
    ['-t', ['%abcdefghijklmnop/22'], 'pasta', "-t: interface name 'abcdefghijklmnop' in '%abcdefghijklmnop/22' is longer than 15 bytes"],
    ['-t', ['192.0.2.1%abcdefghijklmnop/22'], 'pasta', "-t: interface name 'abcdefghijklmnop' in '192.0.2.1%abcdefghijklmnop/22' is longer than 15 bytes"],
    ['-t', ['%ééééééééé/22'], 'pasta', "-t: interface name 'ééééééééé' in '%ééééééééé/22' is longer than 15 bytes"],
    ['-t', ['192.0.2.1%/22'], 'pasta', "-t: empty interface name in '192.0.2.1%/22'"],
    ['-t', ['%/22'], 'pasta', "-t: empty interface name in '%/22'"],
    ['-t', ['%eth 0/22'], 'pasta', "-t: invalid interface name 'eth 0' in '%eth 0/22'"],
    ['-t', ['%eth:0/22'], 'pasta', "-t: invalid interface name 'eth:0' in '%eth:0/22'"],
    ['-t', ['%../22'], 'pasta', "-t: invalid interface name '..' in '%../22'"],
    ['-t', ['%a/b/22'], 'pasta', "-t: invalid interface name 'a/b' in '%a/b/22'"],
    // -T and -U bind in the namespace: no address, no interface (as upstream).
    ['-T', ['127.0.0.1/5432'], 'pasta', "-T: listening address or interface not allowed in '127.0.0.1/5432'"],
    ['-U', ['%lo/53'], 'pasta', "-U: listening address or interface not allowed in '%lo/53'"],
    // Mode.
    ['-t', ['auto'], 'passt', "-t: 'auto' is only supported by pasta"],
    ['-u', ['auto'], 'passt', "-u: 'auto' is only supported by pasta"],
    ['-T', ['22'], 'passt', '-T: only supported by pasta'],
    ['-U', [], 'passt', '-U: only supported by pasta'],
    // Keywords with other values of the same option.
    ['-t', ['none', '22'], 'pasta', "-t: '22' cannot be combined with 'none'"],
    ['-t', ['22', 'none'], 'pasta', "-t: 'none' cannot be combined with '22'"],
    ['-u', ['9000-9000:9000-9000', 'none'], 'pasta', "-u: 'none' cannot be combined with '9000-9000:9000-9000'"],
    ['-t', ['none', 'auto'], 'pasta', "-t: 'auto' cannot be combined with 'none'"],
    ['-t', ['auto', 'none'], 'pasta', "-t: 'none' cannot be combined with 'auto'"],
    ['-t', ['auto', '8080'], 'pasta', "-t: '8080' cannot be combined with 'auto'"],
    ['-t', ['8080', 'auto'], 'pasta', "-t: 'auto' cannot be combined with '8080'"],
    ['-t', ['all', '~22'], 'passt', "-t: '~22' cannot be combined with 'all'"],
    ['-t', ['22', 'all'], 'passt', "-t: 'all' cannot be combined with '22'"],
    ['-t', ['all', 'none'], 'passt', "-t: 'none' cannot be combined with 'all'"],
    // Overlapping rules.
    ['-t', ['22', '22'], 'pasta', "-t: port 22 in '22' is already forwarded by '22'"],
    ['-t', ['20-30', '25:26'], 'pasta', "-t: port 25 in '25:26' is already forwarded by '20-30'"],
    ['-t', ['22,22'], 'pasta', "-t: port 22 is forwarded twice in '22,22'"],
    ['-t', ['20-30,30-40'], 'pasta', "-t: port 30 is forwarded twice in '20-30,30-40'"],
    ['-t', ['192.0.2.1/80', '80'], 'pasta', "-t: port 80 in '80' is already forwarded by '192.0.2.1/80'"],
    ['-t', ['80', '192.0.2.1/80'], 'pasta', "-t: port 80 in '192.0.2.1/80' is already forwarded by '80'"],
    ['-t', ['0.0.0.0/80', '192.0.2.1/80'], 'pasta', "-t: port 80 in '192.0.2.1/80' is already forwarded by '0.0.0.0/80'"],
    ['-t', ['[2001:db8::1]/80', '[::]/80'], 'pasta', "-t: port 80 in '[::]/80' is already forwarded by '[2001:db8::1]/80'"],
    ['-t', ['192.0.2.1%eth0/80', '192.0.2.1%eth1/80'], 'pasta', "-t: port 80 in '192.0.2.1%eth1/80' is already forwarded by '192.0.2.1%eth0/80'"],
    ['-t', ['%eth0/80', '192.0.2.1/80'], 'pasta', "-t: port 80 in '192.0.2.1/80' is already forwarded by '%eth0/80'"],
    ['-t', ['192.0.2.1/80', '::ffff:192.0.2.1/80'], 'pasta', "-t: port 80 in '::ffff:192.0.2.1/80' is already forwarded by '192.0.2.1/80'"],
    ['-t', ['~20000-20010', '8080'], 'pasta', "-t: port 8080 in '8080' is already forwarded by '~20000-20010'"],
    ['-t', ['2000-5000', '~3000'], 'pasta', "-t: port 2000 in '~3000' is already forwarded by '2000-5000'"],
  ];

  it.each(errors)('%s %j (%s)', (option, values, mode, message) => {
    let thrown: unknown;
    try {
      parsePortSpecs(option, values, mode);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toBe(message);
    expect((thrown as Error).message).not.toContain('\n');
    expect((thrown as Error).message.startsWith(`${option}: `)).toBe(true);
  });
});
