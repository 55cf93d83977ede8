// wxoidc-auth.js against a real `wxoidc dev` instance: wx.request is node's
// fetch, wx.login is the dev emulator's /wechat-emulator/login.
//
//   go run ./cmd/wxoidc dev &
//   WXOIDC_ISSUER=http://127.0.0.1:8080 node --test examples/miniprogram/test/
//
// Skipped when WXOIDC_ISSUER is not set (cmd/wxoidc's Go tests set it).
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { createAuth } = require('../wxoidc-auth.js')

const { ISSUER, CLIENT_ID, APPID, skip, emulator, liveWx } = require('./devserver.js')

function setup (user) {
  const w = liveWx(user)
  let clock = Date.now()
  const auth = createAuth({ issuer: ISSUER, clientId: CLIENT_ID, wx: w, now: () => clock })
  return { w, auth, advance: (s) => { clock += s * 1000 } }
}

async function userinfo (auth) {
  const res = await auth.request({ url: ISSUER + '/userinfo', method: 'GET' })
  assert.equal(res.statusCode, 200, JSON.stringify(res.data))
  return res.data
}

test('login, phone button, refresh and logout against wxoidc dev', { skip }, async () => {
  const user = 'node-' + Math.random().toString(36).slice(2)
  const { w, auth, advance } = setup(user)

  // Silent login at launch.
  const first = await auth.login()
  assert.equal(first.access_token.split('.').length, 3, 'a JWT access token')
  const silent = await userinfo(auth)
  assert.ok(silent.sub)
  assert.equal(silent.phone_number, undefined)

  // The phone button, new API.
  const grant = await emulator('/phone', { appid: APPID, user, phone_number: '+8613800138000' })
  await auth.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', code: grant.code } })
  const withPhone = await userinfo(auth)
  assert.equal(withPhone.sub, silent.sub, 'the same account')
  assert.equal(withPhone.phone_number, '+8613800138000')
  assert.equal(withPhone.phone_number_verified, true)

  // The phone button, legacy data: encrypted under the session key of the
  // last wx.login; the module's fresh wx.login rotates it, and the provider
  // falls back to the stored previous key.
  const legacy = await emulator('/phone', { appid: APPID, user, phone_number: '+8613900139000' })
  await auth.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', encryptedData: legacy.encryptedData, iv: legacy.iv } })
  assert.equal((await userinfo(auth)).phone_number, '+8613900139000')

  // A used wx.login code: invalid_grant, then the module's retry with a
  // fresh code succeeds.
  w.loginCodes.push(w.issued[0])
  const retried = await auth.login()
  assert.ok(retried.access_token)

  // Near expiry the access token is refreshed; concurrent callers share one
  // refresh, so the rotating refresh token is never reused.
  const before = auth.tokens()
  advance(3600)
  const tokens = await Promise.all([auth.getAccessToken(), auth.getAccessToken(), auth.getAccessToken()])
  assert.equal(new Set(tokens).size, 1)
  assert.notEqual(tokens[0], before.access_token)
  assert.notEqual(auth.tokens().refresh_token, before.refresh_token)
  advance(3600)
  await auth.getAccessToken() // the chain is intact: a second refresh works
  assert.equal((await userinfo(auth)).sub, silent.sub)

  // Nothing stored mentions a session key.
  assert.ok(!/session/i.test(JSON.stringify([...w.storage.values()])))

  // Logout revokes the refresh token at the provider.
  const rt = auth.tokens().refresh_token
  await auth.logout()
  assert.equal(auth.tokens(), null)
  const r = await fetch(ISSUER + '/oauth2/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: rt })
  })
  assert.equal(r.status, 400)
  assert.equal((await r.json()).error, 'invalid_grant')
})
