/**
 * The package entry point (`import ... from 'node-passt'`).
 *
 * Theory of operation: this module is what `exports["."]` in package.json
 * names, with its declarations beside it, so TypeScript users get types with
 * no extra package. The programmatic API (starting pasta and passt from
 * Node, with a promise-based handle) comes with a later release; today the
 * entry point only tells which version is installed, and importing it does
 * not load the native addon.
 */
import { VERSION } from './version.js';

/** The version of this package, as in its package.json. */
export const version: string = VERSION;
