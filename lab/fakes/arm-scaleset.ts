// Microsoft.Compute scale sets (Uniform): the model with its extension profile, written with long-running
// PUT/PATCH; its instances and their instance views. As on Azure, a model change reaches the instances at
// once only with an Automatic or Rolling upgrade policy; with Manual they show latestModelApplied: false.
// Also the Key Vault management plane's GET of a vault (the pre-flight `az vm encryption` makes).
import * as E from './arm-errors.ts';
import type { Call, Engine, Reply, Route } from './arm-routes.ts';
import { type Json, type ScaleSet, deepMerge, key, props, providerId } from './arm-store.ts';
import { applyModel, seedScaleSet } from './arm-seed.ts';
import { machineBody, machineView } from './arm-views.ts';
import { findIn, isReply } from './arm-vm.ts';

const SS = 'Microsoft.Compute/virtualMachineScaleSets';
const findScaleSet = (e: Engine, c: Call, asParentOf?: string): ScaleSet | Reply => findIn(e, c, SS, e.store.scaleSets, asParentOf);

/** The written properties, their extensions' protectedSettings taken out (kept aside, never returned). */
function takeProtected(set: ScaleSet, body: Json): Json {
  const p = structuredClone((body['properties'] ?? {}) as Json);
  for (const k of ['provisioningState', 'uniqueId', 'timeCreated']) delete p[k];
  const profile = p['virtualMachineProfile'] as Json | undefined;
  const extensions = ((profile?.['extensionProfile'] as Json | undefined)?.['extensions'] ?? []) as Json[];
  for (const x of extensions) {
    const xp = (x['properties'] ?? {}) as Json;
    if (xp['protectedSettings'] !== undefined) set.protectedSettings.set(key(String(x['name'])), xp['protectedSettings']);
    delete xp['protectedSettings'];
    delete xp['provisioningState'];
  }
  return p;
}

function writeScaleSet(e: Engine, c: Call): Reply {
  const id = providerId(c.sub, c.rg, SS, c.names[0]!);
  let set = e.store.scaleSets.get(key(id));
  const created = !set;
  if (!set) {
    if (c.method === 'PATCH') return findScaleSet(e, c) as Reply;
    if (e.store.groupName(c.sub, c.rg) === undefined) return E.resourceGroupNotFound(c.rg);
    if (typeof c.body['location'] !== 'string') return E.invalidParameter('The location property is required for this definition.', 'location');
    const capacity = Number((c.body['sku'] as Json | undefined)?.['capacity'] ?? 0);
    set = seedScaleSet(c.sub, c.rg, c.names[0]!, { location: c.body['location'], capacity });
    e.store.scaleSets.set(key(id), set);
  }
  const written = takeProtected(set, c.body);
  deepMerge(props(set.body), written);
  if (c.body['sku']) deepMerge(set.body['sku'] as Json, c.body['sku'] as Json);
  for (const k of ['tags', 'identity', 'zones'] as const) if (c.body[k] !== undefined) set.body[k] = structuredClone(c.body[k]);
  props(set.body)['provisioningState'] = created ? 'Creating' : 'Updating';
  const s = set;
  const modelChanged = written['virtualMachineProfile'] !== undefined;
  const op = e.operation(c, String(s.body['location']), 'succeeded', () => {
    props(s.body)['provisioningState'] = 'Succeeded';
    const mode = (props(s.body)['upgradePolicy'] as Json | undefined)?.['mode'];
    if (created || mode === 'Automatic' || mode === 'Rolling') applyModel(s);
    else if (modelChanged) for (const m of s.instances) props(m.body)['latestModelApplied'] = false;
    return undefined;
  });
  return { status: created ? 201 : 200, body: structuredClone(s.body), headers: op.headers };
}

function getScaleSet(e: Engine, c: Call): Reply {
  const set = findScaleSet(e, c);
  return isReply(set) ? set : { status: 200, body: structuredClone(set.body) };
}

function listInstances(e: Engine, c: Call): Reply {
  const set = findScaleSet(e, c, 'virtualMachineScaleSets/virtualMachines');
  return isReply(set) ? set : { status: 200, body: { value: set.instances.map((m) => machineBody(m, false)) } };
}

function instanceView(e: Engine, c: Call): Reply {
  const set = findScaleSet(e, c, 'virtualMachineScaleSets/virtualMachines');
  if (isReply(set)) return set;
  const m = set.instances.find((i) => i.body['instanceId'] === c.names[1]);
  return m ? { status: 200, body: machineView(m) } : E.resourceNotFound(`${SS}/${c.names[0]!}/virtualMachines/${c.names[1]!}`, e.store.groupName(c.sub, c.rg)!);
}

function getVault(e: Engine, c: Call): Reply {
  const rg = e.store.groupName(c.sub, c.rg);
  if (rg === undefined) return E.resourceGroupNotFound(c.rg);
  const vault = e.store.vaults.get(key(providerId(c.sub, c.rg, 'Microsoft.KeyVault/vaults', c.names[0]!)));
  return vault ? { status: 200, body: structuredClone(vault) } : E.resourceNotFound(`Microsoft.KeyVault/vaults/${c.names[0]!}`, rg);
}

export const SCALE_SET_ROUTES: Route[] = [
  { type: SS, inGroup: true, names: 1, methods: { GET: getScaleSet, PUT: writeScaleSet, PATCH: writeScaleSet } },
  { type: `${SS}/virtualMachines`, inGroup: true, names: 1, methods: { GET: listInstances } },
  { type: `${SS}/virtualMachines/instanceView`, inGroup: true, names: 2, methods: { GET: instanceView } },
  { type: 'Microsoft.KeyVault/vaults', inGroup: true, names: 1, methods: { GET: getVault } },
];
