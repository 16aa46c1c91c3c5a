#!/usr/bin/env node
'use strict'
// Built code lives in dist/; this file exists before the build, so package managers can link the bin. It runs
// the one CommonJS file `pnpm build` makes (scripts/bundle.mjs): an ES module here would start Node's ES module
// loader, which cost every command (a keeper, before it starts its first worker) 10 ms on Node 20, 40 on 22 and 24.
// No compile cache of Node's own: its default folder is in the shared $TMPDIR, and a keeper is often root.
require('../dist/bundle/main.cjs').main(process.argv.slice(2)).then((code) => { if (code !== undefined) process.exitCode = code })
