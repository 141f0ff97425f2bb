// Microsoft.Compute/locations/<region>/vmSizes: the sizes a region offers, with their memory, as the (deprecated
// but served) VM sizes list answers. A few real sizes, enough for the CLI's memory check: the smallest Azure
// offers (B1ls, 0.5 GiB), 1 GiB (B1s) and the common D2s_v3 and D4s_v5 (figures from Azure's size pages).
import type { Call, Engine, Reply, Route } from './arm-routes.ts';

export const VM_SIZES = [
  { name: 'Standard_B1ls', numberOfCores: 1, osDiskSizeInMB: 1047552, resourceDiskSizeInMB: 4096, memoryInMB: 512, maxDataDiskCount: 2 },
  { name: 'Standard_B1s', numberOfCores: 1, osDiskSizeInMB: 1047552, resourceDiskSizeInMB: 4096, memoryInMB: 1024, maxDataDiskCount: 2 },
  { name: 'Standard_D2s_v3', numberOfCores: 2, osDiskSizeInMB: 1047552, resourceDiskSizeInMB: 16384, memoryInMB: 8192, maxDataDiskCount: 4 },
  { name: 'Standard_D4s_v5', numberOfCores: 4, osDiskSizeInMB: 1047552, resourceDiskSizeInMB: 0, memoryInMB: 16384, maxDataDiskCount: 8 },
];

function listSizes(_e: Engine, _c: Call): Reply {
  return { status: 200, body: { value: structuredClone(VM_SIZES) } };
}

export const SIZE_ROUTES: Route[] = [
  { type: 'Microsoft.Compute/locations/vmSizes', inGroup: false, names: 1, methods: { GET: listSizes } },
];
