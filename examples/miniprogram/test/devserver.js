// What the live tests (devserver.test.js, scan.test.js) share: the running
// `wxoidc dev` they talk to, named by the environment, and its emulator's
// phone hooks. Not a test file itself (it defines no test).
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

module.exports = { ISSUER, CLIENT_ID, APPID, skip, emulator }
