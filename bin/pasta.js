#!/bin/sh
":" //; d=$0; if [ -L "$d" ]; then d=$(readlink -f -- "$d" 2>/dev/null) || d=; fi; l="${d%/*}/../build/Release/node-passt-launch"; if [ -n "$d" ] && [ ! -x "$l" ]; then case $(uname -m) in x86_64) l="${d%/*}/../prebuilds/linux-x64/node-passt-launch";; aarch64) l="${d%/*}/../prebuilds/linux-arm64/node-passt-launch";; esac; fi; if [ -n "$d" ] && [ -x "$l" ]; then exec "$l" "$0" "$@"; fi; exec node "$0" "$@"
// pasta: see `pasta --help` and doc/pasta.1. The program is compiled TypeScript in dist/.
//
// Run as a program (as Podman runs pasta), the line above is sh(1)'s: it execs the launcher
// built with the addon (native/launch.cc; build/Release, else the prebuild's copy), which starts an attaching pasta's background copy
// with no Node of its own in front of it, and otherwise execs `node` on this file (as
// `#!/usr/bin/env node` would). To node, that line is a string and a comment.
//
// CommonJS (bin/package.json), for a quicker start: attaching to a namespace, as Podman
// runs pasta, this process starts its background copy before it loads anything else and
// waits for its report, and that copy loads its modules with V8's code cache. See
// src/cli/background.cts, src/cli/codecache.cts and the top of src/cli/pasta.ts.
'use strict';

const argv = process.argv.slice(2);

async function start() {
  if (process.env.NODE_PASTA_ENGINE_SOCKET !== undefined) {
    // The user's shared engine, started by the launcher (src/cli/shared.ts).
    const socketPath = process.env.NODE_PASTA_ENGINE_SOCKET;
    const readyFd = Number(process.env.NODE_PASTA_ENGINE_READY_FD ?? -1);
    delete process.env.NODE_PASTA_ENGINE_SOCKET;
    delete process.env.NODE_PASTA_ENGINE_READY_FD;
    const { importWithCodeCache } = require('../dist/cli/codecache.cjs');
    const { exports } = await importWithCodeCache(require.resolve('../dist/cli/shared.js'));
    exports.serve(socketPath, readyFd);
    return;
  }
  if (process.env.NODE_PASTA_READY_FD !== undefined) {
    // The background copy.
    const { importWithCodeCache } = require('../dist/cli/codecache.cjs');
    const { exports, refresh } = await importWithCodeCache(require.resolve('../dist/cli/pasta.js'));
    exports.main(argv, { onReady: refresh });
    return;
  }
  if (process.execArgv.includes('--experimental-vm-modules')) {
    // Started by the launcher (native/launch.cc), which found that this command line does not
    // attach: pasta in this process, loaded with V8's code cache as the background copy is.
    const { importWithCodeCache } = require('../dist/cli/codecache.cjs');
    const { exports } = await importWithCodeCache(require.resolve('../dist/cli/pasta.js'));
    exports.main(argv);
    return;
  }
  const { mayAttach, sharedWanted, startInBackground, finishInForeground, runLauncher } = require('../dist/cli/background.cjs');
  // --shared-engine, run by node itself rather than as a program: the launcher is the engine's client.
  if (sharedWanted(argv)) runLauncher(__filename, argv);
  // Returns only if the copy found that the arguments do not go to the background after all.
  if (mayAttach(argv)) await finishInForeground(startInBackground(argv));
  const { main } = await import('../dist/cli/pasta.js');
  main(argv);
}

start().catch((err) => {
  process.stderr.write(`pasta: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
