// PC sign-in by scanning a mini-program code, end to end against a real
// `wxoidc dev` (docs/contract.md §1.6): node's fetch plays the PC browser
// (with a hand-kept cookie), the dev emulator plays WeChat's scan, and the
// real confirm page (pages/scan/index.js) runs on a wx whose login returns
// the scanned code and whose request is fetch.
//
//   go run ./cmd/wxoidc dev &
//   WXOIDC_ISSUER=http://127.0.0.1:8080 node --test examples/miniprogram/test/
//
// Skipped when WXOIDC_ISSUER is not set (cmd/wxoidc's Go tests set it).
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { createAuth } = require('../wxoidc-auth.js')
const { createScanPage } = require('../pages/scan/index.js')

const { ISSUER, CLIENT_ID, APPID, skip, emulator, liveWx } = require('./devserver.js')
const WEB_CLIENT_ID = process.env.WXOIDC_WEB_CLIENT_ID || 'demo-web'
const WEB_REDIRECT = process.env.WXOIDC_WEB_REDIRECT_URI || 'http://127.0.0.1:8090/callback'

// browser is the PC: a cookie jar over fetch, redirects not followed.
function browser () {
  const jar = new Map()
  return {
    jar,
    async get (url) {
      const r = await fetch(new URL(url, ISSUER), {
        redirect: 'manual',
        headers: { Cookie: [...jar].map(([k, v]) => k + '=' + v).join('; ') }
      })
      const setCookies = r.headers.getSetCookie ? r.headers.getSetCookie() : [r.headers.get('set-cookie')].filter(Boolean)
      for (const c of setCookies) {
        const [pair] = c.split(';')
        const i = pair.indexOf('=')
        jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim())
      }
      return { status: r.status, location: r.headers.get('location') || '', body: await r.text() }
    },
    async status (ticket) {
      const r = await this.get('/oauth2/scan/' + ticket)
      assert.equal(r.status, 200, r.body)
      return JSON.parse(r.body)
    }
  }
}

// startScan opens the scan sign-in page of demo-web's authorization
// request and returns the browser and the ticket of its code.
async function startScan () {
  const b = browser()
  const state = crypto.randomBytes(12).toString('hex')
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: WEB_CLIENT_ID,
    redirect_uri: WEB_REDIRECT,
    scope: 'openid phone wechat',
    state,
    nonce: crypto.randomBytes(12).toString('hex'),
    login_method: 'miniprogram_scan'
  })
  const page = await b.get('/oauth2/authorize?' + q)
  assert.equal(page.status, 200, page.body.slice(0, 300))
  assert.ok(b.jar.has('wxoidc_browser'), 'the scan page sets the browser cookie')
  const m = page.body.match(/src="\/oauth2\/scan\/([A-Z2-7]{26})\/image"/)
  assert.ok(m, 'no code image on the scan page: ' + page.body.slice(0, 600))
  const img = await b.get('/oauth2/scan/' + m[1] + '/image')
  assert.equal(img.status, 200)
  return { b, ticket: m[1], state }
}

// phone is the person's WeChat with the confirm page loaded (not opened
// yet): its first wx.login answers firstCode when given (the code the scan
// handed over), later ones fresh emulator codes.
function phone (user, firstCode) {
  const w = liveWx(user)
  if (firstCode) w.loginCodes.push(firstCode)
  const auth = createAuth({ issuer: ISSUER, clientId: CLIENT_ID, wx: w })
  // What Page() does with the definition.
  const def = createScanPage({ wx: w, auth })
  const page = Object.assign({}, def, {
    data: JSON.parse(JSON.stringify(def.data)),
    setData (d) { Object.assign(this.data, JSON.parse(JSON.stringify(d))) }
  })
  return { page, w }
}

// openPage scans the ticket's code as user and opens the confirm page with
// the code's query (WeChat hands the scene over URL-encoded).
async function openPage (ticket, user) {
  const scanned = await emulator('/scan', { scene: ticket, user })
  assert.equal(scanned.appid, APPID, 'the code opens our mini-program')
  assert.equal(scanned.scene, ticket)
  const p = phone(user, scanned.code)
  await p.page.onLoad({ scene: encodeURIComponent(ticket) })
  return Object.assign(p, { scanned })
}

test('scan, confirm on the phone, and the browser signs in', { skip }, async () => {
  const { b, ticket, state } = await startScan()
  assert.equal((await b.status(ticket)).status, 'pending')

  const { page, w, scanned } = await openPage(ticket, 'alice')
  assert.equal(w.issued[0], scanned.code, 'the page signed in with the scanned code')
  assert.equal(page.data.state, 'confirm', JSON.stringify(page.data))
  assert.match(page.data.title, /^Sign in to .+ on your computer\?$/)
  assert.ok(page.data.clientName, 'the web app is named')
  assert.ok(page.data.scopes.includes('Your phone number'), 'says what the web app gets: ' + page.data.scopes)
  assert.equal((await b.status(ticket)).status, 'scanned')

  await page.onConfirm()
  assert.equal(page.data.state, 'approved', JSON.stringify(page.data))
  const st = await b.status(ticket)
  assert.equal(st.status, 'approved')
  assert.equal(st.continue_url, '/oauth2/scan/' + ticket + '/continue')

  const cont = await b.get(st.continue_url)
  assert.equal(cont.status, 303, cont.body.slice(0, 300))
  const to = new URL(cont.location)
  assert.equal(to.origin + to.pathname, WEB_REDIRECT)
  assert.ok(to.searchParams.get('code'), 'a code for the web app')
  assert.equal(to.searchParams.get('state'), state)
  assert.equal(to.searchParams.get('iss'), ISSUER)

  // The ticket is spent: opening it again says so (409 ticket_decided).
  const again = phone('alice')
  await again.page.onLoad({ scene: ticket })
  assert.equal(again.page.data.state, 'decided', JSON.stringify(again.page.data))
})

test('cancel on the phone: the browser is told, and gets no code', { skip }, async () => {
  const { b, ticket } = await startScan()
  const { page } = await openPage(ticket, 'alice')
  assert.equal(page.data.state, 'confirm', JSON.stringify(page.data))
  await page.onCancel()
  assert.equal(page.data.state, 'denied', JSON.stringify(page.data))
  const st = await b.status(ticket)
  assert.equal(st.status, 'denied')
  assert.equal(st.continue_url, undefined)
  const cont = await b.get('/oauth2/scan/' + ticket + '/continue')
  assert.ok(!/[?&]code=/.test(cont.location), 'continue gave a code after deny: ' + cont.status)
  assert.notEqual(cont.status, 303)
})

test('a code someone else scanned first; an unknown code', { skip }, async () => {
  const { ticket } = await startScan()
  const first = await openPage(ticket, 'alice')
  assert.equal(first.page.data.state, 'confirm')
  const second = await openPage(ticket, 'bob')
  assert.equal(second.page.data.state, 'taken', JSON.stringify(second.page.data))
  assert.equal(second.page.data.outcome.title, 'Someone else scanned this code first')

  // A well-formed ticket the provider never issued: "the code expired".
  const unknown = phone('carol')
  await unknown.page.onLoad({ scene: 'ZZZZZZZZZZZZZZZZZZZZZZZZZZ' })
  assert.equal(unknown.page.data.state, 'expired', JSON.stringify(unknown.page.data))
})
