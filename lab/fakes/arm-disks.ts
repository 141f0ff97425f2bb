// Microsoft.Compute managed disks: every managed disk a seeded VM names exists as its own resource, readable
// and patchable (Disks_Update, a long-running PATCH). Single-pass Azure Disk Encryption keeps a disk's key
// reference on the disk itself (encryptionSettingsCollection, version 1.1), and the platform reads it from
// there to fill the VM's BEK VOLUME at start; the VM's instance view shows it under disks[].encryptionSettings.
import * as E from './arm-errors.ts';
import type { Call, Engine, Reply, Route } from './arm-routes.ts';
import { type ArmStore, type Json, type Machine, deepMerge, key, props } from './arm-store.ts';
import { findIn, isReply } from './arm-vm.ts';

const DISK = 'Microsoft.Compute/disks';
/** What a PATCH may not change (ARM computes these, or they are fixed at creation). */
const READ_ONLY = ['provisioningState', 'timeCreated', 'uniqueId', 'diskState', 'osType'];

function diskBody(id: string, name: string, location: string, disk: Json, os: boolean, managedBy: string): Json {
  return {
    name, id, type: DISK, location, managedBy, sku: { name: 'Premium_LRS', tier: 'Premium' },
    properties: {
      ...(os ? { osType: disk['osType'] ?? 'Linux', hyperVGeneration: 'V2' } : {}),
      creationData: { createOption: os ? 'FromImage' : 'Empty' }, diskSizeGB: disk['diskSizeGB'] ?? (os ? 30 : 64),
      diskState: 'Attached', provisioningState: 'Succeeded', timeCreated: new Date().toISOString(),
      encryption: { type: 'EncryptionAtRestWithPlatformKey' }, networkAccessPolicy: 'AllowAll', publicNetworkAccess: 'Enabled',
    },
  };
}

/** The disk resources a VM's model names (OS disk, data disks), created as Compute creates them with the VM. */
export function seedDisks(store: ArmStore, m: Machine): void {
  const storage = (props(m.body)['storageProfile'] ?? {}) as Json;
  const all: Array<{ disk: Json; os: boolean }> = [{ disk: (storage['osDisk'] ?? {}) as Json, os: true }, ...((storage['dataDisks'] ?? []) as Json[]).map((disk) => ({ disk, os: false }))];
  for (const { disk, os } of all) {
    const id = (disk['managedDisk'] as Json | undefined)?.['id'];
    if (typeof id !== 'string') continue;
    store.disks.set(key(id), diskBody(id, String(disk['name']), String(m.body['location']), disk, os, m.id));
  }
}

const findDisk = (e: Engine, c: Call): Json | Reply => findIn(e, c, DISK, e.store.disks);

function getDisk(e: Engine, c: Call): Reply {
  const d = findDisk(e, c);
  return isReply(d) ? d : { status: 200, body: structuredClone(d) };
}

/** A disk's key references as the VM's instance view shows them: one entry per encryptionSettings item. */
function showOnVm(e: Engine, disk: Json): void {
  const m = typeof disk['managedBy'] === 'string' ? e.store.machine(disk['managedBy']) : undefined;
  if (!m) return;
  const collection = props(disk)['encryptionSettingsCollection'] as Json | undefined;
  const name = key(String(disk['name']));
  const view = { ...(m.disks.get(name) ?? {}) };
  if (collection?.['enabled'] === true) view.encryptionSettings = structuredClone((collection['encryptionSettings'] ?? []) as Json[]);
  else delete view.encryptionSettings;
  m.disks.set(name, view);
}

function patchDisk(e: Engine, c: Call): Reply {
  const d = findDisk(e, c);
  if (isReply(d)) return d;
  const given = structuredClone((c.body['properties'] ?? {}) as Json);
  for (const k of READ_ONLY) delete given[k];
  const collection = given['encryptionSettingsCollection'] as Json | undefined;
  if (collection && typeof collection['enabled'] !== 'boolean') return E.invalidParameter("Required parameter 'encryptionSettingsCollection.enabled' is missing (null).", 'encryptionSettingsCollection.enabled');
  props(d)['provisioningState'] = 'Updating';
  const op = e.operation(c, String(d['location']), 'succeeded', () => {
    deepMerge(props(d), given);
    if (c.body['tags'] !== undefined) d['tags'] = structuredClone(c.body['tags']);
    props(d)['provisioningState'] = 'Succeeded';
    showOnVm(e, d);
    return undefined;
  });
  return { status: 202, headers: op.headers };
}

function listDisks(e: Engine, c: Call): Reply {
  if (e.store.groupName(c.sub, c.rg) === undefined) return E.resourceGroupNotFound(c.rg);
  const prefix = `${key(`/subscriptions/${c.sub}/resourceGroups/${c.rg}`)}/providers/microsoft.compute/disks/`;
  return { status: 200, body: { value: [...e.store.disks.values()].filter((d) => key(String(d['id'])).startsWith(prefix)).map((d) => structuredClone(d)) } };
}

export const DISK_ROUTES: Route[] = [
  { type: DISK, inGroup: true, names: 0, methods: { GET: listDisks } },
  { type: DISK, inGroup: true, names: 1, methods: { GET: getDisk, PATCH: patchDisk } },
];
