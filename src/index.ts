/**
 * The package entry point (`import ... from 'node-passt'`).
 *
 * Theory of operation: this module is what `exports["."]` in package.json
 * names, with its declarations beside it, so TypeScript users get types with
 * no extra package: `createPasta()` (api.ts) starts a connected network
 * namespace and returns a handle; `createPasst()` (api-passt.ts) opens the
 * socket a QEMU guest connects to and returns a handle. Importing this
 * module does not load the native addon; the first createPasta() or
 * createPasst() does.
 */
import { VERSION } from './version.js';

export { createPasta, Pasta, PastaOptionError, optionsToArgs } from './api.js';
export type { PastaOptions, PastaStats, FlowEvent, SandboxMode } from './api.js';
export { createPasst, Passt } from './api-passt.js';
export type { PasstOptions, PasstStats, PasstConnectEvent, PasstDisconnectEvent } from './api-passt.js';

/** The version of this package, as in its package.json. */
export const version: string = VERSION;
