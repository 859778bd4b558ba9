#!/usr/bin/env node
// passt: see `passt --help` and doc/passt.1. The program is compiled TypeScript in dist/.
import { main } from '../dist/cli/passt.js';

main(process.argv.slice(2));
