// Which distro a VM runs, from /etc/os-release, and what we encrypt on it. The floor is capability (DESIGN
// D1/D11): the bundled Node needs glibc >= 2.28 and in-place encryption needs cryptsetup >= 2.2 (LUKS2
// reencryption). Above it, ADE's SupportedOS.json rows still within their publishers' support are
// 'supported' for the OS disk, plus the newer images D11 names; a capable distro on no list is 'unlisted'
// (it goes ahead with a warning), never refused for its name alone. Reasons are clauses without a final
// full stop: the OsNotSupported text puts them mid-sentence.

import type { InitramfsBuilder } from '../system/os-boot.ts';

/** The tool a distribution builds its initramfs with: the builders the OS disk's boot plumbing serves. */
export type InitramfsTool = InitramfsBuilder;
export type DistroFamily = 'debian' | 'rhel' | 'azurelinux' | 'suse' | 'unknown';

export interface Support {
  verdict: 'supported' | 'refused' | 'unlisted';
  /** A human sentence naming the cause (glibc, end of life, ADE's table, SUSE boot plumbing…). */
  reason: string;
}

export interface Distro {
  /** Lower-cased ID (os-release's default `linux` when absent): ubuntu, debian, rhel, ol, centos, … */
  id: string;
  /** VERSION_ID as given ('22.04', '9.4', '3.0', '12'); '' when absent. */
  version: string;
  /** PRETTY_NAME, or NAME VERSION_ID, for messages. */
  name: string;
  family: DistroFamily;
  /** The tool the distro builds its initramfs with; undefined when the family is unknown. */
  initramfs?: InitramfsTool;
  /** OS-disk encryption. */
  os: Support;
  /** Data-volume encryption. */
  data: Support;
}

interface Rule {
  ids: readonly string[];
  /** Inclusive lower bound of VERSION_ID. */
  from?: string;
  /** Exclusive upper bound of VERSION_ID. */
  below?: string;
  os: Support;
  data: Support;
  /** Set where a release left its family's initramfs tool. */
  initramfs?: InitramfsTool;
}

const supported = (reason: string): Support => ({ verdict: 'supported', reason });
const refused = (reason: string): Support => ({ verdict: 'refused', reason });
const unlisted = (reason: string): Support => ({ verdict: 'unlisted', reason });
const both = (s: Support): Pick<Rule, 'os' | 'data'> => ({ os: s, data: s });

const FLOOR = 'glibc 2.28, systemd, cryptsetup 2.2 with LUKS2 reencryption and dm-crypt';
const OLD_GLIBC = 'older than the 2.28 the bundled Node runtime needs';
const WARN = 'it has the capabilities, so encryption goes ahead with a warning';
const DATA_OK = supported(`Data volumes are supported on every distro that meets the floor (${FLOOR})`);
const SUSE_OS = refused('ADE supports only data volumes on SUSE, and our OS-disk boot plumbing (initramfs hooks, boot loader edits) is not written for SUSE; data volumes can still be encrypted');

/** First match wins; ids and bounds, nothing else. A row with bounds never matches a non-numeric VERSION_ID. */
const RULES: readonly Rule[] = [
  { ids: ['ubuntu'], below: '20.04', ...both(refused(`Ubuntu before 20.04 ships glibc ${OLD_GLIBC} (18.04 has 2.27) and is past its end of standard support; upgrade to Ubuntu 20.04 or later`)) },
  { ids: ['ubuntu'], below: '25.10', os: supported("Ubuntu 20.04 and later are supported (ADE's table lists 20.04, 22.04 and 24.04)"), data: DATA_OK },
  // 25.10 replaced initramfs-tools with dracut: capable, but not the pairing the Ubuntu rows were tested with.
  { ids: ['ubuntu'], from: '25.10', os: unlisted(`Ubuntu 25.10 and later build the initramfs with dracut instead of initramfs-tools and are not in the supported list; ${WARN}`), data: DATA_OK, initramfs: 'dracut' },
  { ids: ['debian'], below: '11', ...both(refused(`Debian before 11 is past its end of life (Debian 10 LTS ended in June 2024) and ships cryptsetup older than 2.2, without LUKS2 reencryption (Debian 9 and older also have glibc ${OLD_GLIBC}); upgrade to Debian 11 or later`)) },
  { ids: ['debian'], from: '11', os: supported('Debian 11 and later are supported (endorsed on Azure; glibc 2.31 or later, cryptsetup with LUKS2 reencryption)'), data: DATA_OK },
  { ids: ['rhel'], below: '8', ...both(refused(`RHEL 7 and older ship glibc 2.17, ${OLD_GLIBC}, and RHEL 7 left maintenance support (end of life for updates) in June 2024; upgrade to RHEL 8.1 or later`)) },
  {
    ids: ['rhel'], from: '8', below: '8.1',
    os: refused("RHEL 8.0 ships cryptsetup 2.0, without LUKS2 online reencryption (cryptsetup 2.2 came with RHEL 8.1), and ADE's table starts at RHEL 8.1; update to the latest RHEL 8 minor release"),
    data: refused('RHEL 8.0 ships cryptsetup 2.0, which cannot encrypt a LUKS2 volume in place (cryptsetup 2.2 came with RHEL 8.1); update to the latest RHEL 8 minor release'),
  },
  { ids: ['rhel'], from: '8.1', below: '10', os: supported("RHEL 8.1 and later and RHEL 9 are in ADE's supported table"), data: DATA_OK },
  { ids: ['rhel'], from: '10', os: unlisted(`RHEL 10 and later are not in the supported list yet; ${WARN}`), data: DATA_OK },
  { ids: ['centos'], below: '8', ...both(refused(`CentOS 7 and older ship glibc 2.17, ${OLD_GLIBC}, and CentOS 7 reached end of life in June 2024; move to a maintained RHEL-compatible distro`)) },
  // os-release shows CentOS 8 only as "8", so ADE's "8.1 or later" cannot be told from 8.0 here.
  { ids: ['centos'], from: '8', below: '9', os: supported("CentOS Linux 8 is in ADE's supported table, but it reached end of life in December 2021 and gets no fixes; move to a maintained RHEL-compatible distro"), data: DATA_OK },
  { ids: ['centos'], from: '9', os: unlisted(`CentOS Stream is not in ADE's table; ${WARN}`), data: DATA_OK },
  { ids: ['ol'], below: '8', ...both(refused(`Oracle Linux 7 and older ship glibc 2.17, ${OLD_GLIBC}; upgrade to Oracle Linux 8.5 or later`)) },
  { ids: ['ol'], from: '8', below: '8.5', os: refused("ADE's table supports Oracle Linux 8 from 8.5, and Oracle ships fixes only for the latest 8.x update; update with dnf to the latest Oracle Linux 8"), data: DATA_OK },
  { ids: ['ol'], from: '8.5', below: '10', os: supported("Oracle Linux 8.5 and later and Oracle Linux 9 are supported (ADE's table lists Oracle Linux 8 from 8.5)"), data: DATA_OK },
  { ids: ['ol'], from: '10', os: unlisted(`Oracle Linux 10 and later are not in the supported list yet; ${WARN}`), data: DATA_OK },
  { ids: ['rocky', 'almalinux'], from: '8', os: unlisted(`Rocky Linux and AlmaLinux are RHEL rebuilds but are not in ADE's table; ${WARN}`), data: DATA_OK },
  { ids: ['azurelinux'], from: '3', below: '4', os: supported("Azure Linux 3 is in ADE's supported table"), data: DATA_OK },
  { ids: ['azurelinux'], from: '4', os: unlisted(`Azure Linux 4 and later are not in the supported list yet; ${WARN}`), data: DATA_OK },
  { ids: ['mariner'], below: '2', ...both(refused("CBL-Mariner 1.0 reached end of life in July 2023 and ADE's table starts at 2.0; move to Azure Linux 3")) },
  { ids: ['mariner'], from: '2', os: supported("CBL-Mariner 2.0 (Azure Linux 2) is in ADE's supported table, though it reached end of life in July 2025; move to Azure Linux 3"), data: DATA_OK },
  { ids: ['sles', 'sles_sap'], below: '15', ...both(refused(`SLES 12 and older ship glibc ${OLD_GLIBC} (SLES 12 has 2.22), and SLES 12 SP5 left general support (end of life without LTSS) in October 2024; upgrade to SLES 15`)) },
  { ids: ['sles', 'sles_sap'], from: '15', os: SUSE_OS, data: DATA_OK },
  // Leap numbered 42.x before 15.x: the older release has the higher number.
  { ids: ['opensuse-leap'], from: '15', below: '42', os: SUSE_OS, data: DATA_OK },
  { ids: ['opensuse-leap'], from: '42', ...both(refused(`openSUSE Leap 42 ships glibc 2.22, ${OLD_GLIBC}, and reached end of life in 2019; upgrade to Leap 15`)) },
];

/** IDs (and ID_LIKE words) we recognise, to their family. */
const FAMILY = new Map<string, DistroFamily>([
  ['debian', 'debian'], ['ubuntu', 'debian'],
  ['rhel', 'rhel'], ['fedora', 'rhel'], ['centos', 'rhel'], ['ol', 'rhel'], ['rocky', 'rhel'], ['almalinux', 'rhel'],
  ['azurelinux', 'azurelinux'], ['mariner', 'azurelinux'],
  ['suse', 'suse'], ['sles', 'suse'], ['sles_sap', 'suse'], ['opensuse', 'suse'], ['opensuse-leap', 'suse'], ['opensuse-tumbleweed', 'suse'],
]);

const INITRAMFS: Readonly<Record<DistroFamily, InitramfsTool | undefined>> = {
  debian: 'initramfs-tools', rhel: 'dracut', azurelinux: 'dracut', suse: 'dracut', unknown: undefined,
};

const FAMILY_LABEL: Readonly<Record<DistroFamily, string>> = {
  debian: 'a Debian derivative', rhel: 'a RHEL/Fedora derivative', azurelinux: 'an Azure Linux derivative', suse: 'a SUSE derivative', unknown: 'of no family we know',
};

/** '8.10' → [8, 10]; undefined when VERSION_ID is not dot-separated numbers (Debian testing has none). */
function parseVersion(v: string): number[] | undefined {
  return /^\d+(\.\d+)*$/.test(v) ? v.split('.').map(Number) : undefined;
}

/** Numeric by dot-separated components, missing ones as 0 ('8.10' > '8.5', '8' = '8.0'); undefined if either is not numeric. */
export function compareVersions(a: string, b: string): number | undefined {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

function inRange(r: Rule, version: string): boolean {
  if (!parseVersion(version)) return false;
  return (r.from === undefined || compareVersions(version, r.from)! >= 0) && (r.below === undefined || compareVersions(version, r.below)! < 0);
}

function whyUnmatched(d: Pick<Distro, 'id' | 'version' | 'name' | 'family'>): string {
  if (!RULES.some((r) => r.ids.includes(d.id))) return `${d.name} (ID ${d.id}) is not in the supported list and is ${FAMILY_LABEL[d.family]} by its ID and ID_LIKE`;
  if (d.version === '') return `${d.name} has no VERSION_ID, so no row of the supported list applies`;
  if (!parseVersion(d.version)) return `${d.name} has VERSION_ID "${d.version}", which is not a release number, so no row of the supported list applies`;
  return `${d.name} is not in the supported list`;
}

/** No row matched: an ID we know with an odd VERSION_ID, or a distro known only by ID_LIKE, or not at all. */
function unmatched(d: Pick<Distro, 'id' | 'version' | 'name' | 'family'>): Pick<Distro, 'os' | 'data'> {
  const warn = unlisted(`${whyUnmatched(d)}; it goes ahead with a warning if it meets the floor (${FLOOR})`);
  return { os: d.family === 'suse' ? SUSE_OS : warn, data: warn };
}

export function describeDistro(osRelease: Record<string, string>): Distro {
  const field = (k: string) => (Object.hasOwn(osRelease, k) ? osRelease[k]!.trim() : '');
  const id = field('ID').toLowerCase() || 'linux';
  const like = field('ID_LIKE').toLowerCase().split(/\s+/).filter((w) => w !== '');
  const version = field('VERSION_ID');
  const name = field('PRETTY_NAME') || `${field('NAME') || 'Linux'} ${version}`.trim();
  const family = [id, ...like].map((w) => FAMILY.get(w)).find((f) => f !== undefined) ?? 'unknown';
  const base = { id, version, name, family };
  const rule = RULES.find((r) => r.ids.includes(id) && inRange(r, version));
  const initramfs = rule?.initramfs ?? INITRAMFS[family];
  return { ...base, ...(initramfs ? { initramfs } : {}), ...(rule ? { os: rule.os, data: rule.data } : unmatched(base)) };
}
