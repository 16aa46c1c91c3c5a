// GET /?sleep=S answers `ospid:<pid>` after S seconds, as in reload's demo.
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const app = new Hono()
app.get('/', async (c) => {
  const sleep = Number(c.req.query('sleep')) || 0
  await new Promise((resolve) => setTimeout(resolve, sleep * 1000))
  return c.text(`ospid:${process.pid}`)
})
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST ?? '127.0.0.1' })
