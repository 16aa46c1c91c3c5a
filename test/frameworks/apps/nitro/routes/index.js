/* global defineEventHandler, getQuery -- Nitro provides them (auto-imports) */
// GET /?sleep=S answers `ospid:<pid>` after S seconds, as in reload's demo.
export default defineEventHandler(async (event) => {
  const sleep = Number(getQuery(event).sleep) || 0
  await new Promise((resolve) => setTimeout(resolve, sleep * 1000))
  return `ospid:${process.pid}`
})
