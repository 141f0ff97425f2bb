import pkg from '../../package.json' with { type: 'json' };

// The packaging step may stamp another version into the bundle (e.g. two versions for an upgrade test).
declare const __ADE_VERSION__: string | undefined;
export const VERSION: string = typeof __ADE_VERSION__ === 'string' ? __ADE_VERSION__ : pkg.version;
