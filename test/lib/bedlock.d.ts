// Types for bedlock.js; see that file.
export declare function holdBed(cache: string): Promise<{ release: () => Promise<void> }>;
