import { describe, expect, it } from 'vitest';
import { addFstabEntry, escapeField, findFstabEntry, hasOption, isPersistentSpec, parseFstab, replaceFstabEntry, unescapeField } from '../../../src/parsers/fstab.ts';

const FSTAB = [
  '# /etc/fstab: static file system information.',
  '',
  'UUID=4a1c1fa1-6f0c-4d6e-8b1e-0f3b2d3a7c11\t/\text4\tdiscard,errors=remount-ro\t0 1',
  'LABEL=UEFI  /boot/efi   vfat  umask=0077  0 1',
  '   # indented comment',
  '/dev/sdc1 /data\\040one ext4 defaults,nofail,x-systemd.device-timeout=10 0 2',
  'LABEL=BEK\\040VOLUME /mnt/azure_bek_disk auto defaults,discard,nofail 0 0',
  'tmpfs /tmp tmpfs',
  'garbage',
  '',
].join('\n');

describe('parseFstab', () => {
  const entries = parseFstab(FSTAB);
  it.each([
    [0, { spec: 'UUID=4a1c1fa1-6f0c-4d6e-8b1e-0f3b2d3a7c11', file: '/', vfstype: 'ext4', mntops: ['discard', 'errors=remount-ro'], freq: 0, passno: 1, line: 2 }],
    [1, { spec: 'LABEL=UEFI', file: '/boot/efi', vfstype: 'vfat', mntops: ['umask=0077'], freq: 0, passno: 1, line: 3 }],
    [2, { spec: '/dev/sdc1', file: '/data one', vfstype: 'ext4', mntops: ['defaults', 'nofail', 'x-systemd.device-timeout=10'], freq: 0, passno: 2, line: 5 }],
    [3, { spec: 'LABEL=BEK VOLUME', file: '/mnt/azure_bek_disk', vfstype: 'auto', mntops: ['defaults', 'discard', 'nofail'], freq: 0, passno: 0, line: 6 }],
    [4, { spec: 'tmpfs', file: '/tmp', vfstype: 'tmpfs', mntops: ['defaults'], freq: 0, passno: 0, line: 7 }],
  ])('entry %i', (i, want) => {
    expect(entries[i]).toEqual(want);
  });
  it('skips comments, blanks and one-field lines', () => {
    expect(entries).toHaveLength(5);
  });
  it('parses CRLF text the same', () => {
    expect(parseFstab(FSTAB.replace(/\n/g, '\r\n'))).toEqual(entries);
  });
});

describe('escapes', () => {
  it.each([
    ['BEK\\040VOLUME', 'BEK VOLUME'],
    ['a\\011b', 'a\tb'],
    ['back\\134slash', 'back\\slash'],
    ['plain', 'plain'],
  ])('%s <-> %s', (raw, decoded) => {
    expect(unescapeField(raw)).toBe(decoded);
    expect(escapeField(decoded)).toBe(raw);
  });
});

describe('editors', () => {
  const unchanged = (before: string, after: string, changedLine: number) => {
    const b = before.split('\n');
    const a = after.split('\n');
    expect(a).toHaveLength(b.length);
    b.forEach((l, i) => (i === changedLine ? expect(a[i]).not.toBe(l) : expect(a[i]).toBe(l)));
  };

  it.each([
    ['/data one', { spec: '/dev/mapper/data1' }, 5, '/dev/mapper/data1 /data\\040one ext4 defaults,nofail,x-systemd.device-timeout=10 0 2'],
    ['/data one/', { spec: '/dev/mapper/x', mntops: ['nofail', 'defaults'] }, 5, '/dev/mapper/x /data\\040one ext4 nofail,defaults 0 2'],
    ['/boot/efi', { mntops: ['umask=0077', 'nofail'] }, 3, 'LABEL=UEFI  /boot/efi   vfat  umask=0077,nofail  0 1'],
    ['/', { passno: 0 }, 2, 'UUID=4a1c1fa1-6f0c-4d6e-8b1e-0f3b2d3a7c11\t/\text4\tdiscard,errors=remount-ro\t0 0'],
    ['/tmp', { passno: 2 }, 7, 'tmpfs /tmp tmpfs defaults 0 2'],
    ['/mnt/azure_bek_disk', { spec: 'LABEL=BEK VOLUME 2' }, 6, 'LABEL=BEK\\040VOLUME\\0402 /mnt/azure_bek_disk auto defaults,discard,nofail 0 0'],
  ])('replace %s %j', (mp, change, line, want) => {
    const out = replaceFstabEntry(FSTAB, mp, change);
    unchanged(FSTAB, out, line);
    expect(out.split('\n')[line]).toBe(want);
  });

  it.each([['/nope'], ['garbage']])('replace of a missing mount point %s throws', (mp) => {
    expect(() => replaceFstabEntry(FSTAB, mp, { spec: 'x' })).toThrow(/0 entries/);
  });

  it('replace refuses an ambiguous mount point', () => {
    expect(() => replaceFstabEntry('a /x ext4 defaults 0 0\nb /x ext4 defaults 0 0\n', '/x', { spec: 'c' })).toThrow(/2 entries/);
  });

  it('keeps CRLF on the edited line', () => {
    const crlf = FSTAB.replace(/\n/g, '\r\n');
    expect(replaceFstabEntry(crlf, '/tmp', { spec: 'none' })).toBe(crlf.replace('tmpfs /tmp tmpfs\r\n', 'none /tmp tmpfs\r\n'));
  });

  it.each([
    [FSTAB, FSTAB + '# added by ade-linux\n/dev/mapper/d2 /data2 ext4 defaults,nofail 0 2\n'],
    ['a / ext4 defaults 0 1', 'a / ext4 defaults 0 1\n# added by ade-linux\n/dev/mapper/d2 /data2 ext4 defaults,nofail 0 2\n'],
    ['', '# added by ade-linux\n/dev/mapper/d2 /data2 ext4 defaults,nofail 0 2\n'],
    ['a / ext4 defaults 0 1\r\n', 'a / ext4 defaults 0 1\r\n# added by ade-linux\r\n/dev/mapper/d2 /data2 ext4 defaults,nofail 0 2\r\n'],
  ])('add to %j', (text, want) => {
    expect(addFstabEntry(text, { spec: '/dev/mapper/d2', file: '/data2', vfstype: 'ext4', mntops: ['defaults', 'nofail'], freq: 0, passno: 2 }, ['added by ade-linux'])).toBe(want);
  });

  it('add refuses a taken mount point', () => {
    expect(() => addFstabEntry(FSTAB, { spec: 'x', file: '/boot/efi', vfstype: 'auto', mntops: [], freq: 0, passno: 0 })).toThrow(/already/);
  });
});

describe('helpers', () => {
  it.each([
    ['UUID=7f3e9c1a-2b4d-4e6f-8a0b-1c2d3e4f5a6b', true],
    ['PARTUUID=5b6c7d8e-01', true],
    ['LABEL=BEK VOLUME', true],
    ['PARTLABEL=data', true],
    ['/dev/disk/by-uuid/7f3e', true],
    ['/dev/disk/by-path/pci-0000:00:04.0', true],
    ['/dev/disk/azure/scsi1/lun0-part1', true],
    ['/dev/disk/cloud/azure_resource-part1', true],
    ['/dev/mapper/datavg-datalv', true],
    ['/dev/datavg/datalv', true],
    ['/dev/sdc1', false],
    ['/dev/sdd', false],
    ['/dev/vdb1', false],
    ['/dev/nvme0n1p1', false],
    ['/dev/dm-0', false],
    ['UUID=', false],
    ['tmpfs', false],
  ])('isPersistentSpec(%s) = %s', (spec, want) => {
    expect(isPersistentSpec(spec)).toBe(want);
  });

  const e = parseFstab(FSTAB);
  it.each([
    ['/data one', 'nofail', true],
    ['/data one', 'x-systemd.device-timeout', true],
    ['/data one', 'x-systemd', false],
    ['/', 'nofail', false],
  ])('hasOption(%s, %s) = %s', (mp, opt, want) => {
    expect(hasOption(findFstabEntry(e, mp)!, opt)).toBe(want);
  });
});
