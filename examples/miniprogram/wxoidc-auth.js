// wxoidc-auth.js: WeChat mini-program login against a wxoidc provider.
//
// Plain JavaScript on the native `wx` API (no framework, no npm). Copy this
// file into your mini-program (e.g. utils/wxoidc-auth.js) and:
//
//   const { createAuth } = require('./utils/wxoidc-auth.js')
//   const auth = createAuth({ issuer: 'https://id.example.com', clientId: 'my-mp' })
//   await auth.login()                       // silent login at app launch
//   // <button open-type="getPhoneNumber" bindgetphonenumber="onGetPhoneNumber">
//   onGetPhoneNumber(e) { auth.onGetPhoneNumber(e).then(...) }
//   auth.request({ url: 'https://api.example.com/me' }).then(res => ...)
//
//   // PC sign-in: the page a mini-program code opens (pages/scan/index.js)
//   const ticket = decodeScene(query)        // onLoad(query)
//   await auth.login()
//   const info = await auth.scan(ticket, 'scanned')   // then 'approve' or 'deny'
//
// What it does, and why:
// - Trades `wx.login`'s code (plus the phone button's `code`, or the legacy
//   `encryptedData` + `iv`) for OAuth 2.0 / OIDC tokens through wxoidc's
//   custom grant. The mini-program never sees WeChat's session_key: the
//   provider keeps it server-side, so there is nothing to store or leak.
// - Keeps the tokens with wx.setStorageSync, refreshes the access token a
//   little before it expires (refresh tokens rotate: one refresh at a time,
//   concurrent callers share it), and falls back to a fresh wx.login when the
//   refresh token is gone or refused.
// - A `wx.login` code is single-use and short-lived. On `invalid_grant`
//   (code used or expired) or `temporarily_unavailable` (WeChat busy; the code
//   may have been consumed), it retries once with a fresh code.
// - PC sign-in by scanning a mini-program code (docs/contract.md §1.6): the
//   code's `scene` is a ticket; `scan` tells the provider that the person
//   opened it, approved or denied, with the mini-program's access token.

'use strict'

const GRANT_TYPE = 'urn:wxoidc:params:oauth:grant-type:wechat-miniprogram'

// What the mini-program may tell the provider about a scanned ticket.
const SCAN_ACTIONS = ['scanned', 'approve', 'deny']

// A mini-program code's scene: 1 to 32 characters of this alphabet
// (docs/wechat.md §6.3, getwxacodeunlimit).
const SCENE_PATTERN = /^[0-9A-Za-z!#$&'()*+,\/:;=?@._~-]{1,32}$/

// OAuthError is an RFC 6749 error answer (or a transport failure, with
// error 'network_error').
class OAuthError extends Error {
  constructor (status, error, description, retryAfter) {
    super(description ? error + ': ' + description : error)
    this.name = 'OAuthError'
    this.status = status
    this.error = error
    this.description = description || ''
    this.retryAfter = retryAfter || 0
  }
}

function encodeForm (params) {
  const parts = []
  Object.keys(params).forEach(function (k) {
    const v = params[k]
    if (v === undefined || v === null || v === '') return
    const list = Array.isArray(v) ? v : [v]
    list.forEach(function (item) {
      parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(item))
    })
  })
  return parts.join('&')
}

function headerValue (headers, name) {
  if (!headers) return undefined
  const want = name.toLowerCase()
  for (const k of Object.keys(headers)) {
    if (k.toLowerCase() === want) return headers[k]
  }
  return undefined
}

// always runs fn once p settles (Promise.prototype.finally is missing on
// some older WeChat base libraries).
function always (p, fn) {
  return p.then(function (v) { fn(); return v }, function (e) { fn(); throw e })
}

function parseBody (data) {
  if (typeof data !== 'string') return data || {}
  try {
    return JSON.parse(data)
  } catch (e) {
    return {}
  }
}

// checkScene throws an OAuthError 'invalid_scene' unless scene is one
// WeChat could have put in a code. The value is not echoed: it is a ticket.
function checkScene (scene) {
  if (typeof scene !== 'string' || scene === '') {
    throw new OAuthError(0, 'invalid_scene', 'no sign-in code: open this page by scanning the code on your computer')
  }
  if (scene.length > 32) {
    throw new OAuthError(0, 'invalid_scene', 'the scene is longer than 32 characters')
  }
  if (!SCENE_PATTERN.test(scene)) {
    throw new OAuthError(0, 'invalid_scene', 'the scene has characters a mini-program code cannot carry')
  }
  return scene
}

// decodeScene returns the ticket of the mini-program code that opened the
// page: onLoad's query.scene, which WeChat hands over URL-encoded. Anything
// that is not a valid scene throws an OAuthError 'invalid_scene' (and so is
// never sent to the provider).
function decodeScene (query) {
  const raw = query && query.scene !== undefined && query.scene !== null ? String(query.scene) : ''
  let scene
  try {
    scene = decodeURIComponent(raw)
  } catch (e) {
    throw new OAuthError(0, 'invalid_scene', 'the scene is not properly URL-encoded')
  }
  return checkScene(scene)
}

// createAuth returns the login module for one client.
//
// options:
//   issuer         wxoidc's issuer URL (required; add it to the mini-program's
//                  request domain whitelist)
//   clientId       the public mini-program client's id (required)
//   scope          default 'openid phone offline_access'
//   audience       the API the access token is for (string or array; optional)
//   storageKey     default 'wxoidc.tokens'
//   refreshMargin  seconds before expiry to refresh (default 60)
//   maxRetryWait   longest Retry-After (seconds) worth waiting for (default 5)
//   wx, now, sleep for tests (default: the global wx, Date.now, setTimeout)
function createAuth (options) {
  const opts = Object.assign({
    scope: 'openid phone offline_access',
    storageKey: 'wxoidc.tokens',
    refreshMargin: 60,
    maxRetryWait: 5
  }, options || {})
  if (!opts.issuer || !opts.clientId) throw new Error('wxoidc-auth: issuer and clientId are required')
  /* global wx */
  const api = opts.wx || (typeof wx !== 'undefined' ? wx : undefined)
  if (!api) throw new Error('wxoidc-auth: no wx API')
  const now = opts.now || Date.now
  const sleep = opts.sleep || function (ms) { return new Promise(function (resolve) { setTimeout(resolve, ms) }) }
  const issuer = opts.issuer.replace(/\/+$/, '')
  const tokenURL = issuer + '/oauth2/token'

  let refreshing = null // the one in-flight refresh, shared by concurrent callers
  let loggingIn = null // the one in-flight silent login

  function wxLogin () {
    return new Promise(function (resolve, reject) {
      api.login({
        success: function (res) {
          if (res && res.code) resolve(res.code)
          else reject(new OAuthError(0, 'wx_login_failed', (res && res.errMsg) || 'wx.login returned no code'))
        },
        fail: function (err) {
          reject(new OAuthError(0, 'wx_login_failed', (err && err.errMsg) || 'wx.login failed'))
        }
      })
    })
  }

  // post sends a form (plus any extra headers) to the provider and resolves
  // with the JSON body of a 2xx answer; anything else rejects with an
  // OAuthError.
  function post (url, params, extraHeader) {
    return new Promise(function (resolve, reject) {
      api.request({
        url: url,
        method: 'POST',
        header: Object.assign({ 'content-type': 'application/x-www-form-urlencoded' }, extraHeader || {}),
        data: encodeForm(params),
        dataType: 'json',
        success: function (res) {
          const body = parseBody(res.data)
          if (res.statusCode >= 200 && res.statusCode < 300) {
            resolve(body)
            return
          }
          const retryAfter = parseInt(headerValue(res.header, 'Retry-After'), 10) || 0
          reject(new OAuthError(res.statusCode, body.error || 'http_' + res.statusCode, body.error_description, retryAfter))
        },
        fail: function (err) {
          reject(new OAuthError(0, 'network_error', (err && err.errMsg) || 'request failed'))
        }
      })
    })
  }

  function load () {
    try {
      const t = api.getStorageSync(opts.storageKey)
      return t && t.access_token ? t : null
    } catch (e) {
      return null
    }
  }

  // save stores what the token response holds, never anything else: the
  // provider never sends WeChat's session_key, and we would not keep it.
  function save (resp) {
    const old = load() || {}
    const t = {
      access_token: resp.access_token,
      token_type: resp.token_type,
      expires_at: now() + (resp.expires_in || 0) * 1000,
      // Refresh tokens rotate: keep the new one, or the old one if the
      // answer carries none (a refresh always does, with offline_access).
      refresh_token: resp.refresh_token || old.refresh_token || '',
      id_token: resp.id_token || old.id_token || '',
      scope: resp.scope || ''
    }
    api.setStorageSync(opts.storageKey, t)
    return t
  }

  function clear () {
    try { api.removeStorageSync(opts.storageKey) } catch (e) { /* nothing stored */ }
  }

  function retryable (err) {
    return err instanceof OAuthError && (err.error === 'invalid_grant' || err.error === 'temporarily_unavailable')
  }

  // grant runs the WeChat grant; extra holds the phone parameters. A failed
  // code is never reused: the retry gets a fresh wx.login code.
  async function grant (extra) {
    for (let attempt = 0; ; attempt++) {
      const code = await wxLogin()
      const params = Object.assign({
        grant_type: GRANT_TYPE,
        client_id: opts.clientId,
        code: code,
        scope: opts.scope,
        audience: opts.audience
      }, extra || {})
      try {
        return save(await post(tokenURL, params))
      } catch (err) {
        if (attempt > 0 || !retryable(err)) throw err
        if (err.error === 'temporarily_unavailable') {
          const wait = err.retryAfter || 1
          if (wait > opts.maxRetryWait) throw err
          await sleep(wait * 1000)
        }
      }
    }
  }

  // login signs in silently with wx.login (at app launch). Concurrent calls
  // share one login.
  function login () {
    if (!loggingIn) {
      loggingIn = always(grant(null), function () { loggingIn = null })
    }
    return loggingIn
  }

  // onGetPhoneNumber is the handler of
  // <button open-type="getPhoneNumber" bindgetphonenumber="...">. It signs
  // in again with the phone grant: the account is the same, now with a
  // verified phone number.
  function onGetPhoneNumber (event) {
    const d = (event && event.detail) || {}
    if (!d.errMsg || d.errMsg.indexOf(':ok') < 0) {
      return Promise.reject(new OAuthError(0, 'phone_denied', d.errMsg || 'the user did not share a phone number'))
    }
    if (d.code) return grant({ phone_code: d.code })
    if (d.encryptedData && d.iv) return grant({ encrypted_data: d.encryptedData, iv: d.iv })
    return Promise.reject(new OAuthError(0, 'phone_denied', 'no phone grant in the event'))
  }

  // refresh trades the refresh token for new tokens; a refused refresh
  // token is dropped and the user signed in again silently.
  function refresh () {
    if (!refreshing) {
      refreshing = always((async function () {
        const t = load()
        if (!t || !t.refresh_token) return login()
        try {
          return save(await post(tokenURL, { grant_type: 'refresh_token', client_id: opts.clientId, refresh_token: t.refresh_token }))
        } catch (err) {
          if (err.error === 'invalid_grant') {
            clear()
            return login()
          }
          throw err
        }
      })(), function () { refreshing = null })
    }
    return refreshing
  }

  // getAccessToken returns an access token valid for at least refreshMargin
  // seconds, refreshing or signing in as needed.
  async function getAccessToken () {
    const t = load()
    if (t && t.expires_at - opts.refreshMargin * 1000 > now()) return t.access_token
    const fresh = t ? await refresh() : await login()
    return fresh.access_token
  }

  // request is wx.request with the access token; on 401 it refreshes once
  // and retries.
  function request (req) {
    const send = function (token) {
      return new Promise(function (resolve, reject) {
        api.request(Object.assign({}, req, {
          header: Object.assign({}, req.header || {}, { Authorization: 'Bearer ' + token }),
          success: resolve,
          fail: function (err) { reject(new OAuthError(0, 'network_error', (err && err.errMsg) || 'request failed')) }
        }))
      })
    }
    return getAccessToken().then(send).then(function (res) {
      if (res.statusCode !== 401) return res
      return refresh().then(function (t) { return send(t.access_token) })
    })
  }

  // scan tells the provider what the person did with the PC sign-in code
  // whose scene is ticket: 'scanned' (the confirm page opened), 'approve'
  // or 'deny'. It resolves with {status, client_id, client_name, scope}:
  // the web app the person is signing in to and the scopes it will get. On
  // 401 (token revoked or expired early) it gets a fresh token and retries
  // once; other errors reject with an OAuthError: 404 invalid_ticket (the
  // code expired), 409 ticket_decided or ticket_taken, 403
  // insufficient_scope (the code belongs to another mini-program).
  async function scan (ticket, action) {
    checkScene(ticket)
    if (SCAN_ACTIONS.indexOf(action) < 0) {
      throw new OAuthError(0, 'invalid_request', 'the action must be scanned, approve or deny')
    }
    const url = issuer + '/oauth2/scan/' + encodeURIComponent(ticket)
    const send = function (token) {
      return post(url, { action: action }, { Authorization: 'Bearer ' + token })
    }
    try {
      return await send(await getAccessToken())
    } catch (err) {
      if (!(err instanceof OAuthError) || err.status !== 401) throw err
    }
    const fresh = await refresh()
    return send(fresh.access_token)
  }

  // logout revokes the refresh token (RFC 7009) and forgets the tokens.
  async function logout () {
    const t = load()
    clear()
    if (t && t.refresh_token) {
      try {
        await post(issuer + '/oauth2/revoke', { token: t.refresh_token, token_type_hint: 'refresh_token', client_id: opts.clientId })
      } catch (e) { /* forgotten locally either way */ }
    }
  }

  return {
    login: login,
    onGetPhoneNumber: onGetPhoneNumber,
    getAccessToken: getAccessToken,
    refresh: refresh,
    request: request,
    scan: scan,
    logout: logout,
    tokens: load
  }
}

module.exports = {
  createAuth: createAuth,
  decodeScene: decodeScene,
  OAuthError: OAuthError,
  GRANT_TYPE: GRANT_TYPE,
  SCAN_ACTIONS: SCAN_ACTIONS
}
