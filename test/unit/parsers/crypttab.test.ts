import { describe, expect, it } from 'vitest';
import { addCrypttabEntry, parseCrypttab, removeCrypttabEntry } from '../../../src/parsers/crypttab.ts';

const CRYPTTAB = [
  '# <target name>\t<source device>\t<key file>\t<options>',
  'osencrypt /dev/disk/by-partuuid/9a8b7c6d-1111 /mnt/azure_bek_disk/LinuxPassPhraseFileName luks,discard,header=/boot/luks/osluksheader',
  'data1\tUUID=aa11bb22-cc33-4d44-8e55-ff6677889900\tnone\tluks,nofail',
  'swap /dev/sdb2 /dev/urandom swap,cipher=aes-xts-plain64,size=256',
  'bare /dev/sdx',
  '',
].join('\n');

describe('parseCrypttab', () => {
  it('parses every entry form', () => {
    expect(parseCrypttab(CRYPTTAB)).toEqual([
      { name: 'osencrypt', device: '/dev/disk/by-partuuid/9a8b7c6d-1111', keyfile: '/mnt/azure_bek_disk/LinuxPassPhraseFileName', options: ['luks', 'discard', 'header=/boot/luks/osluksheader'], line: 1 },
      { name: 'data1', device: 'UUID=aa11bb22-cc33-4d44-8e55-ff6677889900', options: ['luks', 'nofail'], line: 2 },
      { name: 'swap', device: '/dev/sdb2', keyfile: '/dev/urandom', options: ['swap', 'cipher=aes-xts-plain64', 'size=256'], line: 3 },
      { name: 'bare', device: '/dev/sdx', options: [], line: 4 },
    ]);
  });
  it.each([['-'], ['none']])('keyfile %s means none', (k) => {
    expect(parseCrypttab(`x /dev/sdc ${k} luks`)[0]!.keyfile).toBeUndefined();
  });
});

describe('editors', () => {
  it('adds after comments, and refuses a taken name or blanks', () => {
    const e = { name: 'd2', device: '/dev/disk/azure/scsi1/lun1', keyfile: '/mnt/azure_bek_disk/LinuxPassPhraseFileName_1_1', options: ['luks', 'nofail'] };
    expect(addCrypttabEntry('a /dev/x', e, ['ade-linux'])).toBe('a /dev/x\n# ade-linux\nd2 /dev/disk/azure/scsi1/lun1 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_1 luks,nofail\n');
    expect(() => addCrypttabEntry(CRYPTTAB, { ...e, name: 'data1' })).toThrow(/already/);
    expect(() => addCrypttabEntry('', { ...e, keyfile: '/a b' })).toThrow(/blank/);
  });

  it.each([
    ['swap', CRYPTTAB.replace('swap /dev/sdb2 /dev/urandom swap,cipher=aes-xts-plain64,size=256\n', '')],
    ['absent', CRYPTTAB],
  ])('remove %s', (name, want) => {
    expect(removeCrypttabEntry(CRYPTTAB, name)).toBe(want);
  });

});
