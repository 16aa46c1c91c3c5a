import neostandard from 'neostandard'

export default neostandard({ ts: true, ignores: ['**/dist/**', 'bench/results/**', 'test-results/**', 'test/frameworks/apps/*/{build,.next,.output,.nitro,.svelte-kit}/**'] })
