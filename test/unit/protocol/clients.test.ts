// The settings real clients send (az vm / az vmss encryption, PowerShell, Microsoft's quickstart templates),
// taken from their public source (each case names it): every one validates to what the client meant.
import { describe, expect, it } from 'vitest';
import { validateSettings } from '../../../src/protocol/validate.ts';
import { CLIENT_SETTINGS, CLIENT_SETTINGS_WITHOUT_EXPECTATION } from '../../helpers/client-settings.ts';

describe('settings from real clients', () => {
  it.each(CLIENT_SETTINGS)('$client', (c) => {
    // PowerShell's VM cmdlet sends these protected settings on Linux (AADClientSecret "", Passphrase null).
    const s = validateSettings({ publicSettings: c.publicSettings, protectedSettings: { AADClientSecret: '', Passphrase: null } });
    expect({ operation: s.operation, volumeType: s.volumeType, kek: s.kek !== undefined }).toEqual(c.expect);
    expect(s.identity).toEqual({ kind: 'system' });
    expect(s.passphrase).toBeUndefined();
    expect(s.ignored).toBeUndefined();
    if (c.expect.kek) expect(s.kek).toMatchObject({ url: c.publicSettings.KeyEncryptionKeyURL, algorithm: 'RSA-OAEP' });
    if (c.expect.operation.startsWith('Enable')) expect(s.keyVaultUrl).toBe('https://contoso-kv.vault.azure.net/');
  });

  it.each(CLIENT_SETTINGS_WITHOUT_EXPECTATION)('$client: refused with a code that names the field', (c) => {
    expect(() => validateSettings({ publicSettings: c.publicSettings, protectedSettings: {} })).toThrow(/VolumeType is required for EnableEncryption/);
  });
});
