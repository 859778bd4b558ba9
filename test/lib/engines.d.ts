// Types for engines.js; see that file.
export declare function sharedEngines(under?: string, netns?: string): number[];
