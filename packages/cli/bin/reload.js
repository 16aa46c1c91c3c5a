#!/usr/bin/env node
// Built code lives in dist/; this file exists before the build, so package managers can link the bin.
import { main } from '../dist/main.js'

main(process.argv.slice(2)).then((code) => { if (code !== undefined) process.exitCode = code })
