/* global defineNitroConfig -- Nitro provides it (auto-imports) */
export default defineNitroConfig({})
