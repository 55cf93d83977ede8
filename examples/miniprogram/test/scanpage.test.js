// Unit tests of the PC sign-in confirm page (pages/scan/index.js) with a
// fake wx and a scripted auth: node --test examples/miniprogram/test/
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { OAuthError } = require('../wxoidc-auth.js')
const { createScanPage, WORDS } = require('../pages/scan/index.js')

const TICKET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
const SCANNED = { status: 'scanned', client_id: 'demo-web', client_name: 'Demo web app', scope: 'openid phone' }

// mount does what Page() does with a definition: an instance with its own
// copy of data and a setData that merges (top-level keys only, which is all
// the page uses).
function mount (def) {
  const page = Object.assign({}, def)
  page.data = JSON.parse(JSON.stringify(def.data))
  page.history = []
  page.setData = function (d) {
    Object.assign(this.data, JSON.parse(JSON.stringify(d)))
    if (d.state) this.history.push(d.state)
  }
  return page
}

// fakeAuth answers scan(ticket, action) from answers[action] (a list, used
// in order; an Error rejects) and records every call.
function fakeAuth (answers) {
  const calls = []
  return {
    calls,
    loginFails: [],
    login () {
      calls.push('login')
      const err = this.loginFails.shift()
      return err ? Promise.reject(err) : Promise.resolve({ access_token: 'at' })
    },
    scan (ticket, action) {
      calls.push(action)
      assert.equal(ticket, TICKET)
      const list = answers[action] || []
      const a = list.length ? list.shift() : { status: { scanned: 'scanned', approve: 'approved', deny: 'denied' }[action], client_name: 'Demo web app', scope: 'openid' }
      if (typeof a === 'function') return a()
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a)
    }
  }
}

function fakeWx (info) {
  const calls = { title: [], exit: 0 }
  return {
    calls,
    getAppBaseInfo: info === undefined ? undefined : () => info,
    setNavigationBarTitle ({ title }) { calls.title.push(title) },
    exitMiniProgram () { calls.exit++ }
  }
}

function setup (answers, language) {
  const auth = fakeAuth(answers || {})
  const w = fakeWx({ language: language || 'zh_CN' })
  const page = mount(createScanPage({ wx: w, auth }))
  return { auth, w, page }
}

const err = (status, error) => new OAuthError(status, error, '')

test('scan, confirm, approve: the computer is signed in', async () => {
  const { auth, w, page } = setup({ scanned: [SCANNED] })
  assert.equal(page.data.state, 'loading')
  await page.onLoad({ scene: TICKET })
  assert.deepEqual(auth.calls, ['login', 'scanned'], 'signs in before telling the provider')
  assert.deepEqual(w.calls.title, ['登录确认'])
  assert.equal(page.data.state, 'confirm')
  assert.equal(page.data.title, '在电脑上登录 Demo web app？')
  assert.equal(page.data.willGet, 'Demo web app 将获得：')
  assert.deepEqual(page.data.scopes, ['你的微信身份（用于识别你）', '你的手机号'])
  assert.equal(page.data.busy, false)

  await page.onConfirm()
  assert.deepEqual(auth.calls, ['login', 'scanned', 'approve'])
  assert.equal(page.data.state, 'approved')
  assert.equal(page.data.outcome.title, '已在电脑上登录')
  assert.equal(page.data.outcome.icon, 'success')
  assert.equal(page.data.errorCode, '')
  assert.equal(page.data.busy, false)

  // Nothing more to send from an outcome.
  await page.onConfirm()
  await page.onCancel()
  await page.onRetry()
  assert.equal(auth.calls.length, 3)
  page.onClose()
  assert.equal(w.calls.exit, 1)
})

test('cancel sends deny', async () => {
  const { auth, page } = setup({ scanned: [SCANNED] })
  await page.onLoad({ scene: TICKET })
  await page.onCancel()
  assert.deepEqual(auth.calls, ['login', 'scanned', 'deny'])
  assert.equal(page.data.state, 'denied')
  assert.equal(page.data.outcome.title, '已取消')
})

test('English when WeChat is in English', async () => {
  const { w, page } = setup({ scanned: [Object.assign({}, SCANNED, { scope: 'openid phone wechat custom:thing phone' })] }, 'en')
  await page.onLoad({ scene: encodeURIComponent(TICKET) })
  assert.deepEqual(w.calls.title, ['Confirm sign-in'])
  assert.equal(page.data.title, 'Sign in to Demo web app on your computer?')
  assert.equal(page.data.willGet, 'Demo web app will get:')
  assert.deepEqual(page.data.scopes, ['Your WeChat identity (to recognise you)', 'Your phone number', 'Your WeChat user IDs (to link your accounts)', 'custom:thing'])
  assert.equal(page.data.w.confirm, 'Sign in')
  await page.onConfirm()
  assert.equal(page.data.outcome.title, 'Signed in on your computer')
})

test('the language: getAppBaseInfo, else getSystemInfoSync, else Chinese', () => {
  const cases = [
    [{ getAppBaseInfo: () => ({ language: 'en_US' }) }, 'Sign in'],
    [{ getAppBaseInfo: () => ({ language: 'zh_TW' }) }, '确认登录'],
    [{ getSystemInfoSync: () => ({ language: 'en' }) }, 'Sign in'],
    [{ getSystemInfoSync: () => { throw new Error('no') } }, '确认登录'],
    [{}, '确认登录']
  ]
  for (const [w, want] of cases) {
    assert.equal(createScanPage({ wx: w, auth: {} }).data.w.confirm, want)
  }
  assert.equal(createScanPage({ wx: {}, auth: {}, language: 'en' }).data.w.confirm, 'Sign in')
  assert.throws(() => createScanPage({ auth: {} }), /wx and auth/)
  assert.throws(() => createScanPage({ wx: {} }), /wx and auth/)
})

test('errors map to the states the person sees', async () => {
  const cases = [
    // [when, error, state, title, errorCode shown]
    ['scanned', err(404, 'invalid_ticket'), 'expired', '二维码已过期', ''],
    ['approve', err(404, 'invalid_ticket'), 'expired', '二维码已过期', ''],
    ['scanned', err(409, 'ticket_taken'), 'taken', '二维码已被其他人扫描', ''],
    ['scanned', err(409, 'ticket_decided'), 'decided', '这次登录已确认或取消', ''],
    ['deny', err(409, 'ticket_decided'), 'decided', '这次登录已确认或取消', ''],
    ['scanned', err(403, 'insufficient_scope'), 'wrong_app', '此小程序无法确认这次登录', 'insufficient_scope'],
    ['scanned', err(0, 'network_error'), 'failed', '出了点问题', 'network_error'],
    ['approve', err(503, 'temporarily_unavailable'), 'failed', '出了点问题', 'temporarily_unavailable'],
    ['scanned', err(401, 'invalid_token'), 'failed', '出了点问题', 'invalid_token'],
    ['scanned', err(400, 'invalid_request'), 'failed', '出了点问题', 'invalid_request']
  ]
  for (const [when, e, state, title, code] of cases) {
    const { page } = setup({ scanned: when === 'scanned' ? [e] : [SCANNED], approve: [e], deny: [e] })
    await page.onLoad({ scene: TICKET })
    if (when !== 'scanned') await (when === 'approve' ? page.onConfirm() : page.onCancel())
    const name = when + ' ' + e.error
    assert.equal(page.data.state, state, name)
    assert.equal(page.data.outcome.title, title, name)
    assert.equal(page.data.errorCode, code, name)
    assert.equal(page.data.busy, false, name)
  }
})

test('a bad scene never reaches the provider', async () => {
  for (const query of [{}, { scene: '' }, { scene: 'a%20b' }, { scene: 'x'.repeat(33) }, { scene: '%E4' }, undefined]) {
    const { auth, page } = setup()
    await page.onLoad(query)
    assert.equal(page.data.state, 'invalid', JSON.stringify(query))
    assert.equal(page.data.outcome.title, '不是有效的登录二维码')
    assert.equal(page.data.errorCode, '')
    assert.deepEqual(auth.calls, [], 'no sign-in, no request')
    await page.onRetry()
    assert.deepEqual(auth.calls, [], 'nothing to retry')
  }
})

test('retry after a failed sign-in or scanned starts over', async () => {
  const { auth, page } = setup({ scanned: [err(0, 'network_error'), SCANNED] })
  auth.loginFails.push(err(0, 'wx_login_failed'))
  await page.onLoad({ scene: TICKET })
  assert.equal(page.data.state, 'failed')
  assert.equal(page.data.errorCode, 'wx_login_failed')
  await page.onRetry()
  assert.equal(page.data.state, 'failed')
  assert.equal(page.data.errorCode, 'network_error')
  await page.onRetry()
  assert.equal(page.data.state, 'confirm')
  assert.equal(page.data.errorCode, '')
  assert.deepEqual(auth.calls, ['login', 'login', 'scanned', 'login', 'scanned'])
  assert.deepEqual(page.history, ['loading', 'failed', 'loading', 'failed', 'loading', 'confirm'])
})

test('retry after a failed approve sends approve again (not scanned)', async () => {
  const { auth, page } = setup({ scanned: [SCANNED], approve: [err(0, 'network_error')] })
  await page.onLoad({ scene: TICKET })
  await page.onConfirm()
  assert.equal(page.data.state, 'failed')
  await page.onRetry()
  assert.equal(page.data.state, 'approved')
  assert.deepEqual(auth.calls, ['login', 'scanned', 'approve', 'approve'])
})

test('a double tap sends one action; the buttons are disabled meanwhile', async () => {
  let release
  const held = () => new Promise((resolve) => { release = () => resolve({ status: 'approved' }) })
  const { auth, page } = setup({ scanned: [SCANNED], approve: [held] })
  await page.onLoad({ scene: TICKET })
  const first = page.onConfirm()
  assert.equal(page.data.busy, true)
  assert.equal(page.data.pressed, 'approve')
  await page.onConfirm()
  await page.onCancel()
  assert.deepEqual(auth.calls, ['login', 'scanned', 'approve'])
  release()
  await first
  assert.equal(page.data.state, 'approved')
  assert.equal(page.data.busy, false)
  assert.equal(page.data.pressed, '')
})

test('reopening a ticket this person already decided shows its outcome', async () => {
  const { page } = setup({ scanned: [Object.assign({}, SCANNED, { status: 'denied' })] })
  await page.onLoad({ scene: TICKET })
  assert.equal(page.data.state, 'denied')
})

test('the client id stands in for a missing client name', async () => {
  const { page } = setup({ scanned: [{ status: 'scanned', client_id: 'demo-web', scope: '' }] })
  await page.onLoad({ scene: TICKET })
  assert.equal(page.data.title, '在电脑上登录 demo-web？')
  assert.deepEqual(page.data.scopes, [])
})

// The template may only use handlers and data the page has: a renamed
// handler would make a button silently do nothing.
test('index.wxml binds only what the page defines', () => {
  const dir = path.join(__dirname, '..', 'pages', 'scan')
  const wxml = fs.readFileSync(path.join(dir, 'index.wxml'), 'utf8')
  const def = createScanPage({ wx: {}, auth: {} })
  const handlers = [...wxml.matchAll(/bind\w+="(\w+)"/g)].map((m) => m[1])
  assert.ok(handlers.length >= 4)
  for (const h of handlers) assert.equal(typeof def[h], 'function', 'handler ' + h)
  const names = new Set()
  for (const m of wxml.matchAll(/\{\{([^}]*)\}\}/g)) {
    for (const id of m[1].replace(/'[^']*'/g, '').matchAll(/(?<![.\w])([A-Za-z_]\w*)/g)) names.add(id[1])
  }
  for (const n of names) {
    if (n === 'item') continue // wx:for's loop variable
    assert.ok(n in def.data, 'the template uses data.' + n)
  }
  // Every word the template reads exists in both languages.
  const used = [...wxml.matchAll(/\bw\.(\w+)/g)].map((m) => m[1])
  for (const lang of ['zh', 'en']) {
    const w = createScanPage({ wx: {}, auth: {}, language: lang === 'en' ? 'en' : 'zh_CN' }).data.w
    for (const k of used) assert.equal(typeof w[k], 'string', lang + ' ' + k)
  }
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')).usingComponents, {})
})

test('both languages have every word', () => {
  const keys = (o, prefix) => Object.keys(o).flatMap((k) => typeof o[k] === 'object' && !Array.isArray(o[k]) ? keys(o[k], prefix + k + '.') : [prefix + k]).sort()
  assert.deepEqual(keys(WORDS.en, ''), keys(WORDS.zh, ''))
  for (const lang of ['zh', 'en']) {
    for (const [state, o] of Object.entries(WORDS[lang].outcomes)) assert.equal(o.length, 2, lang + ' ' + state)
  }
})
