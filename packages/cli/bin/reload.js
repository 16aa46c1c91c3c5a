#!/usr/bin/env node
// Built code lives in dist/; this file exists before the build, so package managers can link the bin. It runs
// the bundle `pnpm build` makes (scripts/bundle.mjs): one file per command loads faster than tsc's sixty.
import { main } from '../dist/bundle/main.js'

main(process.argv.slice(2)).then((code) => { if (code !== undefined) process.exitCode = code })
