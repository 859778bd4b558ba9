// Loose declarations for topology-core.js, only so that topology.ts (the typed
// entry point that tests import) type-checks; the precise types are there.
export declare const ADDRESSES: Readonly<Record<string, string | number>>;
export declare const SERVERS_JS: string;
export declare class Topology {
  readonly fullIdMap: boolean;
  hostArgs(argv: string[]): string[];
}
export declare function createTopology(opts?: { mtu?: number }): Promise<Topology>;
export declare function runInHostAsUser(topo: Topology, uid: number, gid: number, argv: string[]): string[];
