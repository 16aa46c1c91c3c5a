// The chart: latency of every request over time, one colour per pid that answered, failures in red on
// top, reload moments as dashed lines; one panel per system. Requests that fall on the same 2×2 pixel
// cell with the same colour share one mark, so the SVG stays small however many requests there were.

// Neighbouring generations get colours far apart.
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#393b79', '#637939', '#8c6d31']
const FAIL = '#d62728'
const NON2XX = '#000000'

const W = 960
const PANEL = 190
const GAP = 58
const LEFT = 64
const RIGHT = 16
const TOP = 62
const Y_MIN = 0.3
const Y_MAX = 6000

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * An SVG of the `panels` ({ title, subtitle, outcomes, events, startedAt, stoppedAt }), on one time axis
 * (seconds since the load started) and one logarithmic latency axis.
 */
export function chart ({ title, panels }) {
  const plotW = W - LEFT - RIGHT
  const seconds = Math.max(1, ...panels.map((p) => ((p.stoppedAt ?? 0) - (p.startedAt ?? 0)) / 1000))
  const x = (s) => LEFT + (s / seconds) * plotW
  const y = (ms) => {
    const v = Math.min(Math.max(ms, Y_MIN), Y_MAX)
    return (Math.log10(Y_MAX) - Math.log10(v)) / (Math.log10(Y_MAX) - Math.log10(Y_MIN)) * (PANEL - 36) + 36
  }
  const height = TOP + panels.length * (PANEL + GAP) + 10
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="600">${esc(title)}</text>`,
    `<text x="${LEFT}" y="40" fill="#555">One dot per request (start time, latency), coloured by the pid that answered · ` +
      `<tspan fill="${FAIL}">× failed</tspan> · <tspan font-weight="700">■ non-2xx</tspan> · dashed line: reload signal · time axis shared by the panels</text>`]

  panels.forEach((panel, index) => {
    const top = TOP + index * (PANEL + GAP)
    parts.push(`<g transform="translate(0 ${top})">`)
    parts.push(`<text x="${LEFT}" y="8" font-size="13" font-weight="600">${esc(panel.title)}</text>`)
    parts.push(`<text x="${LEFT}" y="8" dx="${esc(panel.title).length * 7.6 + 12}" fill="#444">${esc(panel.subtitle ?? '')}</text>`)
    parts.push(`<rect x="${LEFT}" y="20" width="${plotW}" height="${PANEL - 20}" fill="#fafafa" stroke="#ccc"/>`)
    for (const tick of [1, 10, 100, 1000]) {
      parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#e4e4e4"/>`)
      parts.push(`<text x="${LEFT - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" fill="#555">${tick < 1000 ? `${tick} ms` : '1 s'}</text>`)
    }
    parts.push(`<text x="${LEFT - 6}" y="30" text-anchor="end" fill="${FAIL}">failed</text>`)
    const step = seconds > 60 ? 10 : 5
    for (let s = 0; s <= seconds; s += step) {
      parts.push(`<text x="${x(s).toFixed(1)}" y="${PANEL + 14}" text-anchor="middle" fill="#555">${s} s</text>`)
    }
    for (const event of panel.events ?? []) {
      const ex = x((event.at - panel.startedAt) / 1000).toFixed(1)
      parts.push(`<line x1="${ex}" x2="${ex}" y1="20" y2="${PANEL}" stroke="#999" stroke-dasharray="3 3"/>`)
    }
    if (panel.outcomes === undefined) {
      parts.push(`<text x="${LEFT + plotW / 2}" y="${PANEL / 2 + 10}" text-anchor="middle" fill="${FAIL}">${esc(panel.missing ?? 'not run')}</text>`)
      parts.push('</g>')
      return
    }
    const { t, ms, pid, out } = panel.outcomes
    const colourOf = new Map()
    const cells = new Map()
    const fails = new Set()
    for (let i = 0; i < t.length; i++) {
      const px = Math.round(x((t[i] - panel.startedAt) / 1000) / 2) * 2
      if (out[i] < 0) { fails.add(px); continue }
      let colour = NON2XX
      if (out[i] >= 200 && out[i] <= 299) {
        if (!colourOf.has(pid[i])) colourOf.set(pid[i], palette[colourOf.size % palette.length])
        colour = colourOf.get(pid[i])
      }
      const py = Math.round(y(ms[i]) / 2) * 2
      let set = cells.get(colour)
      if (set === undefined) cells.set(colour, (set = new Set()))
      set.add(px * 10000 + py)
    }
    for (const [colour, set] of cells) {
      let d = ''
      for (const key of set) d += `M${Math.floor(key / 10000) - 1} ${(key % 10000) - 1}h2v2h-2z`
      parts.push(`<path fill="${colour}" d="${d}"/>`)
    }
    if (fails.size > 0) {
      let d = ''
      for (const px of fails) d += `M${px - 3} 23l6 6M${px + 3} 23l-6 6`
      parts.push(`<path stroke="${FAIL}" stroke-width="1.5" d="${d}"/>`)
    }
    parts.push('</g>')
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
