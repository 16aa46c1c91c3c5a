// GET /?sleep=S answers `ospid:<pid>` after S seconds, as in reload's demo.
export async function GET ({ url }) {
  const sleep = Number(url.searchParams.get('sleep')) || 0
  await new Promise((resolve) => setTimeout(resolve, sleep * 1000))
  return new Response(`ospid:${process.pid}`)
}
