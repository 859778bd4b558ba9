#!/usr/bin/env node
// pasta: see `pasta --help` and doc/pasta.1. The program is compiled TypeScript in dist/.
import { main } from '../dist/cli/pasta.js';

main(process.argv.slice(2));
