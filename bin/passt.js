#!/usr/bin/env node
// passt: see `passt --help` and doc/passt.1. The program is compiled TypeScript in dist/.
// (CommonJS, as bin/pasta.js: see bin/package.json.)
'use strict';

import('../dist/cli/passt.js').then(({ main }) => main(process.argv.slice(2)));
