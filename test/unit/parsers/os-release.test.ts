import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseOsRelease } from '../../../src/parsers/os-release.ts';

const fx = (n: string) => readFileSync(new URL(`../../fixtures/os-release/${n}`, import.meta.url), 'utf8');

describe('parseOsRelease values', () => {
  it.each([
    ['bare', 'ID=ubuntu', 'ubuntu'],
    ['double quotes', 'NAME="Oracle Linux Server"', 'Oracle Linux Server'],
    ['single quotes', "NAME='Oracle Linux Server'", 'Oracle Linux Server'],
    ['escaped double quote', 'X="say \\"hi\\""', 'say "hi"'],
    ['escaped backslash', 'X="a\\\\b"', 'a\\b'],
    ['escaped dollar and backtick', 'X="\\$HOME \\`id\\`"', '$HOME `id`'],
    ['other backslashes stay inside double quotes', 'X="a\\nb"', 'a\\nb'],
    ['single quotes take backslashes literally', "X='a\\\"b'", 'a\\"b'],
    ['a quote of the other kind is literal', `X="it's"`, "it's"],
    ['bare backslash escapes the next character', 'X=a\\ b\\"c', 'a b"c'],
    ['empty bare', 'X=', ''],
    ['empty double', 'X=""', ''],
    ['empty single', "X=''", ''],
    ['unescaped $ and # are literal', 'X="5$ #1"', '5$ #1'],
    ['leading and trailing blanks', '  ID=debian  ', 'debian'],
    ['CRLF', 'ID="rhel"\r', 'rhel'],
  ])('%s', (_, line, want) => {
    const key = /^\s*([A-Za-z_]\w*)=/.exec(line)![1]!;
    expect(parseOsRelease(line)).toEqual({ [key]: want });
  });
});

describe('parseOsRelease skips', () => {
  it.each([
    ['a comment', '# ID=debian'],
    ['an indented comment', '   # ID=debian'],
    ['a blank line', '   '],
    ['no =', 'ID debian'],
    ['blanks around =', 'ID = debian'],
    ['a key starting with a digit', '1ID=debian'],
    ['a key with a dash', 'MY-ID=debian'],
    ['export', 'export ID=debian'],
    ['an unterminated double quote', 'ID="debian'],
    ['an unterminated single quote', "ID='debian"],
    ['text after the closing quote', 'ID="debian"x'],
    ['concatenated quoted strings', 'NAME="Debian" "GNU"'],
    ['a bare value with a blank', 'NAME=Debian GNU'],
    ['a bare value with a quote', 'NAME=Debian"GNU"'],
    ['a trailing lone backslash', 'ID=debian\\'],
  ])('%s', (_, line) => {
    expect(parseOsRelease(`${line}\nVERSION_ID=12\n`)).toEqual({ VERSION_ID: '12' });
  });
});

describe('parseOsRelease files', () => {
  it('a later assignment wins, as when the file is sourced', () => {
    expect(parseOsRelease('ID=a\nID=b\n')).toEqual({ ID: 'b' });
  });

  it('keeps __proto__ as an ordinary key', () => {
    const r = parseOsRelease('__proto__=x\nID=y');
    expect(Object.keys(r)).toEqual(['__proto__', 'ID']);
    expect(r['__proto__']).toBe('x');
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
  });

  it('reads a whole file (RHEL 9.4, with its blank line and unquoted numbers)', () => {
    expect(parseOsRelease(fx('rhel-9.4'))).toEqual({
      NAME: 'Red Hat Enterprise Linux',
      VERSION: '9.4 (Plow)',
      ID: 'rhel',
      ID_LIKE: 'fedora',
      VERSION_ID: '9.4',
      PLATFORM_ID: 'platform:el9',
      PRETTY_NAME: 'Red Hat Enterprise Linux 9.4 (Plow)',
      ANSI_COLOR: '0;31',
      LOGO: 'fedora-logo-icon',
      CPE_NAME: 'cpe:/o:redhat:enterprise_linux:9::baseos',
      HOME_URL: 'https://www.redhat.com/',
      DOCUMENTATION_URL: 'https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9',
      BUG_REPORT_URL: 'https://bugzilla.redhat.com/',
      REDHAT_BUGZILLA_PRODUCT: 'Red Hat Enterprise Linux 9',
      REDHAT_BUGZILLA_PRODUCT_VERSION: '9.4',
      REDHAT_SUPPORT_PRODUCT: 'Red Hat Enterprise Linux',
      REDHAT_SUPPORT_PRODUCT_VERSION: '9.4',
    });
  });

  it('reads the same text with CRLF line ends', () => {
    expect(parseOsRelease(fx('ubuntu-22.04').replace(/\n/g, '\r\n'))).toEqual(parseOsRelease(fx('ubuntu-22.04')));
  });

  it('an empty file is an empty map', () => {
    expect(parseOsRelease('')).toEqual({});
  });
});
