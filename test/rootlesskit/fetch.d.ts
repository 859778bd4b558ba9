// Types for fetch.js (rootlesskit 2.x from Debian trixie, cached outside git); see that file.

export interface Rootlesskit {
  /** Absolute path of the rootlesskit binary in the cache. */
  binary: string;
  /** Its `--version`, e.g. "2.0.2". */
  version: string;
  /** The .deb it came from. */
  deb: string;
  /** True when this call downloaded it. */
  fetched: boolean;
}

/** The cache directory ($NODE_PASST_ROOTLESSKIT_CACHE, /var/cache/node-passt-rootlesskit as root), created. */
export function cacheDir(): string;

/** `rootlesskit --version` of a binary ("2.0.2"), or undefined when it does not run. */
export function binaryVersion(binary: string): string | undefined;

/** rootlesskit 2.x from the cache, fetched from trixie the first time; throws with the reason when it cannot. */
export function ensureRootlesskit(): Rootlesskit;
