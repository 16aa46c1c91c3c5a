// standalone: `next build` also writes .next/standalone/server.js, the other way Next.js apps run in
// production. The tracing root is this app, not the repository around it.
export default { output: 'standalone', outputFileTracingRoot: import.meta.dirname }
