// Unit tests of wxoidc-auth.js with a mocked `wx`: node --test examples/miniprogram/test/
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { createAuth, GRANT_TYPE } = require('../wxoidc-auth.js')

const ISSUER = 'https://id.example.com'

// fakeWx is the subset of the wx API the module uses. server(req, form)
// answers each wx.request like the provider would.
function fakeWx (server) {
  const storage = new Map()
  const calls = { login: 0, requests: [] }
  return {
    calls,
    storage,
    login ({ success }) {
      calls.login++
      const code = 'wxcode-' + calls.login
      setImmediate(() => success({ code, errMsg: 'login:ok' }))
    },
    request (req) {
      const form = typeof req.data === 'string' ? Object.fromEntries(new URLSearchParams(req.data)) : {}
      calls.requests.push({ url: req.url, method: req.method, header: req.header, data: req.data, form })
      setImmediate(() => {
        const res = server(req, form)
        if (res.fail) req.fail({ errMsg: res.fail })
        else req.success(Object.assign({ header: {} }, res))
      })
    },
    setStorageSync (k, v) { storage.set(k, JSON.parse(JSON.stringify(v))) },
    getStorageSync (k) { return storage.has(k) ? storage.get(k) : '' },
    removeStorageSync (k) { storage.delete(k) }
  }
}

// provider is a scripted token endpoint: it issues numbered tokens, and
// answers queued errors first.
function provider () {
  let n = 0
  const errors = []
  const p = {
    errors,
    handle (req, form) {
      if (req.url === ISSUER + '/oauth2/revoke') return { statusCode: 200, data: '' }
      if (req.url !== ISSUER + '/oauth2/token') {
        const auth = (req.header || {}).Authorization || ''
        if (auth === 'Bearer expired') return { statusCode: 401, data: { error: 'invalid_token' } }
        return { statusCode: 200, data: { ok: true, auth } }
      }
      if (errors.length) return errors.shift()
      n++
      return {
        statusCode: 200,
        data: {
          access_token: 'at-' + n,
          token_type: 'bearer',
          expires_in: 3600,
          refresh_token: 'rt-' + n,
          id_token: 'idt-' + n,
          scope: form.scope || 'openid phone offline_access',
          // A provider must never send this; the module must not keep it.
          session_key: 'leaked-session-key'
        }
      }
    }
  }
  return p
}

function setup (extra) {
  const prov = provider()
  const w = fakeWx((req, form) => prov.handle(req, form))
  let clock = 1_000_000
  const slept = []
  const auth = createAuth(Object.assign({
    issuer: ISSUER + '/',
    clientId: 'my-mp',
    wx: w,
    now: () => clock,
    sleep: (ms) => { slept.push(ms); return Promise.resolve() }
  }, extra || {}))
  return { auth, w, prov, slept, advance: (s) => { clock += s * 1000 } }
}

function tokenRequests (w) {
  return w.calls.requests.filter((r) => r.url === ISSUER + '/oauth2/token')
}

test('silent login trades a wx.login code for tokens and stores them', async () => {
  const { auth, w } = setup({ audience: 'https://api.example.com' })
  const t = await auth.login()
  assert.equal(t.access_token, 'at-1')
  assert.equal(w.calls.login, 1)
  const [req] = tokenRequests(w)
  assert.equal(req.method, 'POST')
  assert.equal(req.header['content-type'], 'application/x-www-form-urlencoded')
  assert.deepEqual(req.form, {
    grant_type: GRANT_TYPE,
    client_id: 'my-mp',
    code: 'wxcode-1',
    scope: 'openid phone offline_access',
    audience: 'https://api.example.com'
  })
  const stored = w.storage.get('wxoidc.tokens')
  assert.equal(stored.access_token, 'at-1')
  assert.equal(stored.refresh_token, 'rt-1')
  assert.equal(stored.id_token, 'idt-1')
  assert.equal(stored.expires_at, 1_000_000 + 3600 * 1000)
  // The session key never reaches storage, even when a provider sends one.
  assert.ok(!JSON.stringify([...w.storage.values()]).includes('session'), 'session key stored')
  assert.deepEqual(auth.tokens(), stored)
})

test('the phone button (new API) sends phone_code with a fresh wx.login code', async () => {
  const { auth, w } = setup()
  await auth.login()
  const t = await auth.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', code: 'phone-code-1', encryptedData: 'ED', iv: 'IV' } })
  assert.equal(t.access_token, 'at-2')
  const req = tokenRequests(w)[1]
  assert.equal(req.form.phone_code, 'phone-code-1')
  assert.equal(req.form.code, 'wxcode-2')
  assert.equal(req.form.encrypted_data, undefined, 'prefers phone_code over the legacy data')
})

test('the phone button (legacy) sends encrypted_data and iv', async () => {
  const { auth, w } = setup()
  await auth.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', encryptedData: 'ED+/=', iv: 'IV==' } })
  const [req] = tokenRequests(w)
  assert.equal(req.form.encrypted_data, 'ED+/=')
  assert.equal(req.form.iv, 'IV==')
  assert.equal(req.form.phone_code, undefined)
  assert.ok(req.data.includes('encrypted_data=ED%2B%2F%3D'), 'form-encoded')
})

test('a denied phone button sends nothing', async () => {
  const { auth, w } = setup()
  await assert.rejects(auth.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail user deny' } }), { error: 'phone_denied' })
  await assert.rejects(auth.onGetPhoneNumber({}), { error: 'phone_denied' })
  assert.equal(w.calls.requests.length, 0)
  assert.equal(w.calls.login, 0)
})

test('invalid_grant: one retry with a fresh wx.login code', async () => {
  const { auth, w, prov } = setup()
  prov.errors.push({ statusCode: 400, data: { error: 'invalid_grant', error_description: 'code used' } })
  const t = await auth.login()
  assert.equal(t.access_token, 'at-1')
  const reqs = tokenRequests(w)
  assert.equal(reqs.length, 2)
  assert.notEqual(reqs[0].form.code, reqs[1].form.code, 'a failed code is never reused')

  // Twice: the error reaches the caller, after exactly two attempts.
  prov.errors.push({ statusCode: 400, data: { error: 'invalid_grant' } }, { statusCode: 400, data: { error: 'invalid_grant' } })
  await assert.rejects(auth.login(), { name: 'OAuthError', error: 'invalid_grant', status: 400 })
  assert.equal(tokenRequests(w).length, 4)
})

test('temporarily_unavailable: wait Retry-After, then retry with a fresh code', async () => {
  const { auth, w, prov, slept } = setup()
  prov.errors.push({ statusCode: 503, header: { 'Retry-After': '2' }, data: { error: 'temporarily_unavailable' } })
  await auth.login()
  assert.deepEqual(slept, [2000])
  const reqs = tokenRequests(w)
  assert.equal(reqs.length, 2)
  assert.notEqual(reqs[0].form.code, reqs[1].form.code)

  // A long Retry-After (WeChat's minute quota) is not worth blocking on.
  prov.errors.push({ statusCode: 503, header: { 'retry-after': '60' }, data: { error: 'temporarily_unavailable' } })
  await assert.rejects(auth.login(), { error: 'temporarily_unavailable', retryAfter: 60 })
  assert.equal(tokenRequests(w).length, 3)
})

test('other errors are not retried', async () => {
  const { auth, w, prov } = setup()
  prov.errors.push({ statusCode: 400, data: { error: 'invalid_scope' } })
  await assert.rejects(auth.login(), { error: 'invalid_scope' })
  prov.errors.push({ fail: 'request:fail timeout' })
  await assert.rejects(auth.login(), { error: 'network_error' })
  prov.errors.push({ statusCode: 502, data: '<html>bad gateway</html>' })
  await assert.rejects(auth.login(), { error: 'http_502' })
  assert.equal(tokenRequests(w).length, 3)
})

test('getAccessToken refreshes shortly before expiry, and rotates the refresh token', async () => {
  const { auth, w, advance } = setup()
  await auth.login()
  advance(3600 - 61)
  assert.equal(await auth.getAccessToken(), 'at-1', 'still valid beyond the margin: no request')
  assert.equal(tokenRequests(w).length, 1)
  advance(2)
  assert.equal(await auth.getAccessToken(), 'at-2')
  const refresh = tokenRequests(w)[1]
  assert.deepEqual(refresh.form, { grant_type: 'refresh_token', client_id: 'my-mp', refresh_token: 'rt-1' })
  assert.equal(w.storage.get('wxoidc.tokens').refresh_token, 'rt-2')
  assert.equal(w.calls.login, 1, 'a refresh needs no wx.login')
})

test('concurrent callers share one refresh (a rotated refresh token must not be reused)', async () => {
  const { auth, w, advance } = setup()
  await auth.login()
  advance(3600)
  const got = await Promise.all([auth.getAccessToken(), auth.getAccessToken(), auth.getAccessToken()])
  assert.deepEqual(got, ['at-2', 'at-2', 'at-2'])
  assert.equal(tokenRequests(w).length, 2)
})

test('a refused refresh token falls back to a silent login', async () => {
  const { auth, w, prov, advance } = setup()
  await auth.login()
  advance(3600)
  prov.errors.push({ statusCode: 400, data: { error: 'invalid_grant', error_description: 'revoked' } })
  assert.equal(await auth.getAccessToken(), 'at-2')
  const reqs = tokenRequests(w)
  assert.equal(reqs[1].form.grant_type, 'refresh_token')
  assert.equal(reqs[2].form.grant_type, GRANT_TYPE)
  assert.equal(w.calls.login, 2)
})

test('no tokens yet: getAccessToken logs in', async () => {
  const { auth, w } = setup()
  assert.equal(await auth.getAccessToken(), 'at-1')
  assert.equal(w.calls.login, 1)
})

test('request adds the bearer token and retries once after a 401', async () => {
  const { auth, w } = setup()
  await auth.login()
  const res = await auth.request({ url: 'https://api.example.com/me', method: 'GET' })
  assert.equal(res.data.auth, 'Bearer at-1')

  // The API says the token is no good (e.g. revoked): refresh, retry once.
  const t = w.storage.get('wxoidc.tokens')
  t.access_token = 'expired'
  w.storage.set('wxoidc.tokens', t)
  const again = await auth.request({ url: 'https://api.example.com/me' })
  assert.equal(again.statusCode, 200)
  assert.equal(again.data.auth, 'Bearer at-2')
})

test('logout revokes the refresh token and forgets the tokens', async () => {
  const { auth, w } = setup()
  await auth.login()
  await auth.logout()
  const revoke = w.calls.requests.find((r) => r.url === ISSUER + '/oauth2/revoke')
  assert.deepEqual(revoke.form, { token: 'rt-1', token_type_hint: 'refresh_token', client_id: 'my-mp' })
  assert.equal(auth.tokens(), null)
  assert.equal(w.storage.size, 0)
})

test('nothing the module sends mentions a session key', async () => {
  const { auth, w, advance } = setup()
  await auth.login()
  await auth.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', code: 'pc' } })
  advance(4000)
  await auth.getAccessToken()
  await auth.logout()
  for (const r of w.calls.requests) {
    assert.ok(!/session/i.test(String(r.data)), 'request body mentions a session key: ' + r.data)
  }
})

test('createAuth validates its options', () => {
  assert.throws(() => createAuth({ clientId: 'x', wx: {} }), /issuer/)
  assert.throws(() => createAuth({ issuer: ISSUER, wx: {} }), /clientId/)
})
