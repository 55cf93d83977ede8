// What the live tests (devserver.test.js, scan.test.js) share: the running
// `wxoidc dev` they talk to, named by the environment, its emulator's
// hooks, and a wx API over HTTP. Not a test file itself (it defines no test).
'use strict'

const ISSUER = process.env.WXOIDC_ISSUER
const CLIENT_ID = process.env.WXOIDC_CLIENT_ID || 'demo-miniprogram'
const APPID = process.env.WXOIDC_APPID || 'wx1234567890abcdef'
// skip is node:test's skip option: a reason when no dev server is named.
const skip = ISSUER ? false : 'set WXOIDC_ISSUER to the issuer of a running `wxoidc dev`'

// emulator POSTs body as JSON to one of the dev emulator's hooks
// (/login, /phone, /scan) and returns its JSON answer.
async function emulator (path, body) {
  const r = await fetch(ISSUER + '/wechat-emulator' + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body)
  })
  const data = await r.json()
  if (!r.ok) throw new Error('emulator ' + path + ': ' + JSON.stringify(data))
  return data
}

// liveWx is the wx API over HTTP for user: wx.request is node's fetch,
// wx.login the emulator's /login. loginCodes, when not empty, are handed
// out before fresh ones (a code to replay, or the one a scan handed over);
// issued lists every code handed out.
function liveWx (user) {
  const storage = new Map()
  const w = {
    storage,
    loginCodes: [],
    issued: [],
    login ({ success, fail }) {
      const next = w.loginCodes.length ? Promise.resolve({ code: w.loginCodes.shift() }) : emulator('/login', { appid: APPID, user })
      next.then((res) => { w.issued.push(res.code); success({ code: res.code, errMsg: 'login:ok' }) }, (e) => fail({ errMsg: 'login:fail ' + e.message }))
    },
    request (req) {
      const method = req.method || 'GET'
      fetch(req.url, { method, headers: req.header, body: method === 'GET' ? undefined : req.data })
        .then(async (r) => {
          const text = await r.text()
          let data = text
          try { data = JSON.parse(text) } catch (e) { /* not JSON: wx.request keeps the string */ }
          req.success({ statusCode: r.status, data, header: Object.fromEntries(r.headers) })
        }, (e) => req.fail({ errMsg: 'request:fail ' + e.message }))
    },
    getAppBaseInfo () { return { language: 'en' } },
    setStorageSync (k, v) { storage.set(k, JSON.parse(JSON.stringify(v))) },
    getStorageSync (k) { return storage.has(k) ? storage.get(k) : '' },
    removeStorageSync (k) { storage.delete(k) }
  }
  return w
}

module.exports = { ISSUER, CLIENT_ID, APPID, skip, emulator, liveWx }
