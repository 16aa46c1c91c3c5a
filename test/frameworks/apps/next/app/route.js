// GET /?sleep=S answers `ospid:<pid>` after S seconds, as in reload's demo.
export const dynamic = 'force-dynamic'

export async function GET (request) {
  const sleep = Number(new URL(request.url).searchParams.get('sleep')) || 0
  await new Promise((resolve) => setTimeout(resolve, sleep * 1000))
  return new Response(`ospid:${process.pid}`)
}
