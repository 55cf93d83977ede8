// Unit tests of wxoidc-auth.js with a mocked `wx`: node --test examples/miniprogram/test/
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { createAuth, decodeScene, GRANT_TYPE } = require('../wxoidc-auth.js')

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
    // scanAnswers are the answers of the scan endpoint, in order; then 200.
    scanAnswers: [],
    handle (req, form) {
      if (req.url === ISSUER + '/oauth2/revoke') return { statusCode: 200, data: '' }
      if (req.url.startsWith(ISSUER + '/oauth2/scan/')) {
        if (p.scanAnswers.length) return p.scanAnswers.shift()
        const status = { scanned: 'scanned', approve: 'approved', deny: 'denied' }[form.action]
        return { statusCode: 200, data: { status, client_id: 'web', client_name: 'Web', scope: 'openid phone' } }
      }
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

// decodeScene: onLoad's query.scene, URL-encoded by WeChat, must be a scene
// a mini-program code can carry (docs/wechat.md §6.3) before it is sent.
test('decodeScene accepts the scene alphabet and rejects the rest', () => {
  const ok = [
    [{ scene: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' }, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'],
    [{ scene: 'A%2FB%3DC%26d' }, 'A/B=C&d'],
    [{ scene: encodeURIComponent("09az!#$&'()*+,/:;=?@._~-") }, "09az!#$&'()*+,/:;=?@._~-"],
    [{ scene: 'x' }, 'x'],
    [{ scene: 'a'.repeat(32) }, 'a'.repeat(32)],
    [{ scene: '%2F'.repeat(32) }, '/'.repeat(32)], // the length counts decoded characters
    [{ scene: 12345 }, '12345']
  ]
  for (const [query, want] of ok) {
    assert.equal(decodeScene(query), want, JSON.stringify(query))
  }
  const bad = [
    ['empty', { scene: '' }],
    ['missing', {}],
    ['no query', undefined],
    ['null', { scene: null }],
    ['too long', { scene: 'a'.repeat(33) }],
    ['33 characters once decoded', { scene: '%2F'.repeat(33) }],
    ['space', { scene: 'a%20b' }],
    ['percent sign', { scene: 'a%25b' }],
    ['quote', { scene: 'a%22b' }],
    ['non-ASCII', { scene: '%E4%BD%A0' }],
    ['newline', { scene: 'a%0Ab' }],
    ['bad encoding', { scene: '%E4%BD' }],
    ['lone percent', { scene: 'abc%' }],
    ['angle brackets', { scene: '<script>' }]
  ]
  for (const [name, query] of bad) {
    assert.throws(() => decodeScene(query), (err) => {
      assert.equal(err.name, 'OAuthError', name)
      assert.equal(err.error, 'invalid_scene', name)
      assert.equal(err.status, 0, name)
      return true
    }, name)
  }
  // The error text never repeats the scene: it is a ticket.
  try { decodeScene({ scene: 'SECRETTICKET%20' }) } catch (err) { assert.ok(!err.message.includes('SECRET'), err.message) }
})

function scanRequests (w) {
  return w.calls.requests.filter((r) => r.url.startsWith(ISSUER + '/oauth2/scan/'))
}

test('scan posts the action as a form with the access token', async () => {
  const { auth, w } = setup()
  await auth.login()
  const res = await auth.scan('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'scanned')
  assert.deepEqual(res, { status: 'scanned', client_id: 'web', client_name: 'Web', scope: 'openid phone' })
  const [req] = scanRequests(w)
  assert.equal(req.url, ISSUER + '/oauth2/scan/ABCDEFGHIJKLMNOPQRSTUVWXYZ')
  assert.equal(req.method, 'POST')
  assert.equal(req.header['content-type'], 'application/x-www-form-urlencoded')
  assert.equal(req.header.Authorization, 'Bearer at-1')
  assert.deepEqual(req.form, { action: 'scanned' })
  assert.equal((await auth.scan('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'approve')).status, 'approved')
  assert.equal((await auth.scan('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'deny')).status, 'denied')

  // A scene with reserved characters stays one path segment.
  await auth.scan('a/b?c#d', 'scanned')
  assert.equal(scanRequests(w)[3].url, ISSUER + '/oauth2/scan/a%2Fb%3Fc%23d')
})

test('scan signs in first when there are no tokens', async () => {
  const { auth, w } = setup()
  await auth.scan('TICKET', 'scanned')
  assert.equal(w.calls.login, 1)
  assert.equal(scanRequests(w)[0].header.Authorization, 'Bearer at-1')
})

test('scan: after a 401, one retry with a fresh token', async () => {
  const { auth, w, prov } = setup()
  await auth.login()
  prov.scanAnswers.push({ statusCode: 401, header: { 'WWW-Authenticate': 'Bearer error="invalid_token"' }, data: { error: 'invalid_token' } })
  const res = await auth.scan('TICKET', 'approve')
  assert.equal(res.status, 'approved')
  const reqs = scanRequests(w)
  assert.equal(reqs.length, 2)
  assert.equal(reqs[0].header.Authorization, 'Bearer at-1')
  assert.equal(reqs[1].header.Authorization, 'Bearer at-2', 'the retry carries the refreshed token')
  assert.equal(tokenRequests(w)[1].form.grant_type, 'refresh_token')
  assert.deepEqual(reqs[1].form, { action: 'approve' })

  // Two 401s: the second reaches the caller, after exactly two attempts.
  const unauthorized = { statusCode: 401, data: { error: 'invalid_token', error_description: 'no good' } }
  prov.scanAnswers.push(unauthorized, unauthorized)
  await assert.rejects(auth.scan('TICKET', 'approve'), { name: 'OAuthError', status: 401, error: 'invalid_token', description: 'no good' })
  assert.equal(scanRequests(w).length, 4)
})

test('scan: a 401 with a refused refresh token signs in again', async () => {
  const { auth, w, prov } = setup()
  await auth.login()
  prov.scanAnswers.push({ statusCode: 401, data: { error: 'invalid_token' } })
  prov.errors.push({ statusCode: 400, data: { error: 'invalid_grant' } })
  assert.equal((await auth.scan('TICKET', 'scanned')).status, 'scanned')
  assert.equal(w.calls.login, 2)
  assert.equal(scanRequests(w)[1].header.Authorization, 'Bearer at-2')
})

test('scan errors carry status and error, and are not retried', async () => {
  const cases = [
    [{ statusCode: 404, data: { error: 'invalid_ticket', error_description: 'expired' } }, { status: 404, error: 'invalid_ticket', description: 'expired' }],
    [{ statusCode: 409, data: { error: 'ticket_decided' } }, { status: 409, error: 'ticket_decided' }],
    [{ statusCode: 409, data: JSON.stringify({ error: 'ticket_taken' }) }, { status: 409, error: 'ticket_taken' }],
    [{ statusCode: 403, header: { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' }, data: { error: 'insufficient_scope' } }, { status: 403, error: 'insufficient_scope' }],
    [{ statusCode: 400, data: { error: 'invalid_request' } }, { status: 400, error: 'invalid_request' }],
    [{ statusCode: 503, header: { 'Retry-After': '5' }, data: { error: 'temporarily_unavailable' } }, { status: 503, error: 'temporarily_unavailable', retryAfter: 5 }],
    [{ statusCode: 502, data: '<html>bad gateway</html>' }, { status: 502, error: 'http_502' }],
    [{ fail: 'request:fail timeout' }, { status: 0, error: 'network_error' }]
  ]
  for (const [answer, want] of cases) {
    const { auth, w, prov } = setup()
    await auth.login()
    prov.scanAnswers.push(answer)
    await assert.rejects(auth.scan('TICKET', 'approve'), Object.assign({ name: 'OAuthError' }, want), JSON.stringify(answer))
    assert.equal(scanRequests(w).length, 1, 'retried: ' + JSON.stringify(answer))
    assert.equal(tokenRequests(w).length, 1)
  }
})

test('scan refuses a bad ticket or action without sending anything', async () => {
  const { auth, w } = setup()
  await auth.login()
  const bad = [['', 'scanned', 'invalid_scene'], ['a b', 'approve', 'invalid_scene'], ['a'.repeat(33), 'deny', 'invalid_scene'], [undefined, 'deny', 'invalid_scene'],
    ['TICKET', 'approved', 'invalid_request'], ['TICKET', '', 'invalid_request'], ['TICKET', undefined, 'invalid_request']]
  for (const [ticket, action, error] of bad) {
    await assert.rejects(auth.scan(ticket, action), { name: 'OAuthError', status: 0, error }, ticket + ' ' + action)
  }
  assert.equal(scanRequests(w).length, 0)
  assert.equal(tokenRequests(w).length, 1)
})
