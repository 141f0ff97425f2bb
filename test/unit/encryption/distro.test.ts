import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareVersions, describeDistro, type Distro, type DistroFamily, type InitramfsTool, type Support } from '../../../src/encryption/distro.ts';
import { parseOsRelease } from '../../../src/parsers/os-release.ts';

const DIR = new URL('../../fixtures/os-release/', import.meta.url);
const fromFixture = (n: string) => describeDistro(parseOsRelease(readFileSync(new URL(n, DIR), 'utf8')));

type Verdict = Support['verdict'];
interface Row {
  fixture: string;
  id: string;
  version: string;
  family: DistroFamily;
  initramfs: InitramfsTool | undefined;
  os: Verdict;
  data: Verdict;
  /** What a refused (or unlisted) reason must name. */
  cause?: RegExp;
}

const row = (fixture: string, id: string, version: string, family: DistroFamily, initramfs: InitramfsTool | undefined, os: Verdict, data: Verdict, cause?: RegExp): Row =>
  ({ fixture, id, version, family, initramfs, os, data, ...(cause ? { cause } : {}) });

// One row per real /etc/os-release (test/fixtures/os-release/), plus two made-up ones.
const ROWS: Row[] = [
  row('ubuntu-18.04', 'ubuntu', '18.04', 'debian', 'initramfs-tools', 'refused', 'refused', /glibc.*2\.28.*end of standard support/),
  row('ubuntu-20.04', 'ubuntu', '20.04', 'debian', 'initramfs-tools', 'supported', 'supported'),
  row('ubuntu-22.04', 'ubuntu', '22.04', 'debian', 'initramfs-tools', 'supported', 'supported'),
  row('ubuntu-24.04', 'ubuntu', '24.04', 'debian', 'initramfs-tools', 'supported', 'supported'),
  row('debian-10', 'debian', '10', 'debian', 'initramfs-tools', 'refused', 'refused', /end of life.*cryptsetup older than 2\.2/),
  row('debian-11', 'debian', '11', 'debian', 'initramfs-tools', 'supported', 'supported'),
  row('debian-12', 'debian', '12', 'debian', 'initramfs-tools', 'supported', 'supported'),
  row('rhel-7.9', 'rhel', '7.9', 'rhel', 'dracut', 'refused', 'refused', /glibc 2\.17.*2\.28.*end of life/),
  row('rhel-8.0', 'rhel', '8.0', 'rhel', 'dracut', 'refused', 'refused', /cryptsetup 2\.0.*RHEL 8\.1/),
  row('rhel-8.10', 'rhel', '8.10', 'rhel', 'dracut', 'supported', 'supported'),
  row('rhel-9.4', 'rhel', '9.4', 'rhel', 'dracut', 'supported', 'supported'),
  row('ol-8.4', 'ol', '8.4', 'rhel', 'dracut', 'refused', 'supported', /from 8\.5/),
  row('ol-8.10', 'ol', '8.10', 'rhel', 'dracut', 'supported', 'supported'),
  row('ol-9.4', 'ol', '9.4', 'rhel', 'dracut', 'supported', 'supported'),
  row('centos-7', 'centos', '7', 'rhel', 'dracut', 'refused', 'refused', /glibc 2\.17.*end of life/),
  row('centos-8', 'centos', '8', 'rhel', 'dracut', 'supported', 'supported', /end of life in December 2021/),
  row('centos-stream-9', 'centos', '9', 'rhel', 'dracut', 'unlisted', 'supported', /CentOS Stream.*warning/),
  row('rocky-9.3', 'rocky', '9.3', 'rhel', 'dracut', 'unlisted', 'supported', /not in ADE's table.*warning/),
  row('almalinux-9.4', 'almalinux', '9.4', 'rhel', 'dracut', 'unlisted', 'supported', /not in ADE's table.*warning/),
  row('sles-12-sp5', 'sles', '12.5', 'suse', 'dracut', 'refused', 'refused', /glibc.*2\.28.*end of life/),
  row('sles-15-sp5', 'sles', '15.5', 'suse', 'dracut', 'refused', 'supported', /only data volumes on SUSE.*not written for SUSE/),
  row('mariner-2.0', 'mariner', '2.0', 'azurelinux', 'dracut', 'supported', 'supported'),
  row('azurelinux-3.0', 'azurelinux', '3.0', 'azurelinux', 'dracut', 'supported', 'supported'),
  row('madeup-unknown', 'nimbus', '4.2', 'unknown', undefined, 'unlisted', 'unlisted', /ID nimbus.*no family we know.*warning/),
  row('madeup-idlike-rhel', 'exampleel', '9.4', 'rhel', 'dracut', 'unlisted', 'unlisted', /ID exampleel.*RHEL\/Fedora derivative.*warning/),
];

/** The fields a row pins, taken from a Distro, so one toEqual shows every mismatch of a row at once. */
const pinned = (d: Distro): Omit<Row, 'fixture' | 'cause'> => ({ id: d.id, version: d.version, family: d.family, initramfs: d.initramfs, os: d.os.verdict, data: d.data.verdict });

describe('describeDistro over real /etc/os-release files', () => {
  it('every fixture has a row, and every row a fixture', () => {
    expect(readdirSync(DIR).sort()).toEqual(ROWS.map((r) => r.fixture).sort());
  });

  it.each(ROWS)('$fixture → $id $family $initramfs, OS $os, data $data', ({ fixture, cause, ...want }) => {
    const d = fromFixture(fixture);
    expect(pinned(d)).toEqual(want);
    for (const s of [d.os, d.data]) expect(s.reason).toMatch(/^[A-Z].{20,}[^.]$/);
    // A refusal or warning names its cause; a supported row may pin a caveat (end of life) in its OS reason.
    const explained = [d.os, d.data].filter((s) => s.verdict !== 'supported');
    if (explained.length > 0) expect(cause, 'a row with a refusal or warning pins its cause').toBeDefined();
    if (explained.length === 0 && cause) explained.push(d.os);
    for (const s of explained) expect(s.reason).toMatch(cause!);
  });

  it('names the distro by PRETTY_NAME', () => {
    expect(fromFixture('ubuntu-22.04').name).toBe('Ubuntu 22.04.5 LTS');
    expect(fromFixture('mariner-2.0').name).toBe('CBL-Mariner/Linux');
  });

  it('the OS refusal reason is what the refusal says, not the data one', () => {
    expect(fromFixture('ol-8.4').os.reason).toMatch(/ADE's table supports Oracle Linux 8 from 8\.5/);
    expect(fromFixture('ol-8.4').data.reason).toMatch(/glibc 2\.28/);
  });
});

const rec = (fields: Record<string, string>) => describeDistro(fields);

describe('describeDistro beyond the fixtures', () => {
  it.each([
    ['Debian 13', { ID: 'debian', VERSION_ID: '13' }, 'debian', 'initramfs-tools', 'supported', 'supported'],
    ['Ubuntu 23.10 (interim)', { ID: 'ubuntu', ID_LIKE: 'debian', VERSION_ID: '23.10' }, 'debian', 'initramfs-tools', 'supported', 'supported'],
    ['Ubuntu 25.10 (dracut)', { ID: 'ubuntu', ID_LIKE: 'debian', VERSION_ID: '25.10' }, 'debian', 'dracut', 'unlisted', 'supported'],
    ['Ubuntu 16.04', { ID: 'ubuntu', VERSION_ID: '16.04' }, 'debian', 'initramfs-tools', 'refused', 'refused'],
    ['RHEL 8.1 (first of ADE)', { ID: 'rhel', ID_LIKE: 'fedora', VERSION_ID: '8.1' }, 'rhel', 'dracut', 'supported', 'supported'],
    ['RHEL 10.0', { ID: 'rhel', ID_LIKE: 'fedora', VERSION_ID: '10.0' }, 'rhel', 'dracut', 'unlisted', 'supported'],
    ['Oracle Linux 8.5 (first of ADE)', { ID: 'ol', VERSION_ID: '8.5' }, 'rhel', 'dracut', 'supported', 'supported'],
    ['Oracle Linux 7.9', { ID: 'ol', VERSION_ID: '7.9' }, 'rhel', 'dracut', 'refused', 'refused'],
    ['Rocky 8.9', { ID: 'rocky', ID_LIKE: 'rhel centos fedora', VERSION_ID: '8.9' }, 'rhel', 'dracut', 'unlisted', 'supported'],
    ['CBL-Mariner 1.0', { ID: 'mariner', VERSION_ID: '1.0' }, 'azurelinux', 'dracut', 'refused', 'refused'],
    ['Azure Linux 4.0', { ID: 'azurelinux', VERSION_ID: '4.0' }, 'azurelinux', 'dracut', 'unlisted', 'supported'],
    ['SLES for SAP 15 SP6', { ID: 'sles_sap', ID_LIKE: 'suse', VERSION_ID: '15.6' }, 'suse', 'dracut', 'refused', 'supported'],
    ['openSUSE Leap 15.5', { ID: 'opensuse-leap', ID_LIKE: 'suse opensuse', VERSION_ID: '15.5' }, 'suse', 'dracut', 'refused', 'supported'],
    ['openSUSE Leap 42.3', { ID: 'opensuse-leap', ID_LIKE: 'suse opensuse', VERSION_ID: '42.3' }, 'suse', 'dracut', 'refused', 'refused'],
    ['Tumbleweed (SUSE, no row)', { ID: 'opensuse-tumbleweed', ID_LIKE: 'opensuse suse', VERSION_ID: '20240101' }, 'suse', 'dracut', 'refused', 'unlisted'],
    ['Fedora', { ID: 'fedora', VERSION_ID: '40' }, 'rhel', 'dracut', 'unlisted', 'unlisted'],
    ['Linux Mint (ID_LIKE ubuntu)', { ID: 'linuxmint', ID_LIKE: 'ubuntu debian', VERSION_ID: '21.3' }, 'debian', 'initramfs-tools', 'unlisted', 'unlisted'],
    ['Debian testing (no VERSION_ID)', { ID: 'debian', PRETTY_NAME: 'Debian GNU/Linux trixie/sid' }, 'debian', 'initramfs-tools', 'unlisted', 'unlisted'],
    ['Rocky without ID_LIKE (family from the ID)', { ID: 'rocky', VERSION_ID: '9.3' }, 'rhel', 'dracut', 'unlisted', 'supported'],
    ['the ID decides before ID_LIKE', { ID: 'mariner', ID_LIKE: 'fedora', VERSION_ID: '2.0' }, 'azurelinux', 'dracut', 'supported', 'supported'],
    ['upper-case ID', { ID: 'Ubuntu', VERSION_ID: '22.04' }, 'debian', 'initramfs-tools', 'supported', 'supported'],
    ['no ID at all', { NAME: 'Something' }, 'unknown', undefined, 'unlisted', 'unlisted'],
  ] as const)('%s', (_, fields, family, initramfs, os, data) => {
    const d = rec(fields);
    expect({ family: d.family, initramfs: d.initramfs, os: d.os.verdict, data: d.data.verdict }).toEqual({ family, initramfs, os, data });
  });

  it('falls back to the os-release defaults and says why no row applied', () => {
    const none = rec({});
    expect([none.id, none.version, none.name]).toEqual(['linux', '', 'Linux']);
    expect(rec({ NAME: 'Debian GNU/Linux', ID: 'debian' }).os.reason).toMatch(/^Debian GNU\/Linux has no VERSION_ID.*warning/);
    expect(rec({ ID: 'ubuntu', VERSION_ID: 'devel', NAME: 'Ubuntu' }).os.reason).toMatch(/"devel", which is not a release number/);
    expect(rec({ ID: 'nimbus', NAME: 'Nimbus', VERSION_ID: '1' }).name).toBe('Nimbus 1');
  });

  it('ignores inherited keys', () => {
    expect(rec(Object.create({ ID: 'ubuntu', VERSION_ID: '22.04' }) as Record<string, string>).id).toBe('linux');
  });
});

describe('compareVersions', () => {
  it.each([
    ['8.10', '8.5', 1],
    ['8.5', '8.10', -1],
    ['8', '8.0', 0],
    ['8.1', '8', 1],
    ['20.04', '22.04', -1],
    ['12', '11', 1],
    ['3.0', '3', 0],
    ['24.04', '24.04', 0],
  ])('%s vs %s → %i', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
  });
  it.each([['', '1'], ['1', 'devel'], ['8.x', '8'], ['15-SP5', '15']])('%j vs %j is not comparable', (a, b) => {
    expect(compareVersions(a, b)).toBeUndefined();
  });
});
