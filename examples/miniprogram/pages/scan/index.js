// pages/scan/index.js: the confirm page of PC sign-in (docs/contract.md §1.6).
//
// A browser shows a mini-program code whose scene is a sign-in ticket. Scanning
// it with WeChat opens this page with query.scene; the page signs the person
// in silently (wxoidc-auth.js, the mini-program grant), tells the provider the
// code was scanned, and asks them to confirm the sign-in on their computer.
//
// The page definition is built by createScanPage({ wx, auth }) so that tests
// can drive it under node with a fake wx; in WeChat the last lines register it
// with Page(), taking auth from app.js (App({ auth })).
//
// States (data.state): loading, confirm, and the outcomes approved, denied,
// expired, taken, decided, wrong_app, invalid and failed (with a retry).

'use strict'

// Adjust this path to where you keep the module (e.g. ../../utils/wxoidc-auth.js).
const { decodeScene } = require('../../wxoidc-auth.js')

// Words of the page, Simplified Chinese first: the default.
const WORDS = {
  zh: {
    navTitle: '登录确认',
    loading: '正在登录…',
    confirmTitle: '在电脑上登录 {client}？',
    willGet: '{client} 将获得：',
    confirmHint: '请确认二维码是你本人刚在电脑上打开的。如果是别人发给你的，请点“取消”。',
    confirm: '确认登录',
    cancel: '取消',
    retry: '重试',
    close: '关闭',
    errorCode: '错误代码：',
    scopes: {
      openid: '你的微信身份（用于识别你）',
      phone: '你的手机号',
      wechat: '你的微信用户标识（用于关联你的账号）',
      offline_access: '长期访问权限，让你保持登录'
    },
    outcomes: {
      approved: ['已在电脑上登录', '请回到电脑上继续。'],
      denied: ['已取消', '电脑上的这次登录已取消。'],
      expired: ['二维码已过期', '请在电脑上刷新二维码，再扫一次。'],
      taken: ['二维码已被其他人扫描', '请在电脑上刷新二维码，再扫一次。'],
      decided: ['这次登录已确认或取消', '如需登录，请在电脑上刷新二维码，再扫一次。'],
      wrong_app: ['此小程序无法确认这次登录', '这个二维码属于另一个应用。'],
      invalid: ['不是有效的登录二维码', '请用微信扫描电脑上显示的登录二维码。'],
      failed: ['出了点问题', '请检查网络后重试。']
    }
  },
  en: {
    navTitle: 'Confirm sign-in',
    loading: 'Signing in…',
    confirmTitle: 'Sign in to {client} on your computer?',
    willGet: '{client} will get:',
    confirmHint: 'Only confirm if you just opened this code on your own computer. If someone sent it to you, tap Cancel.',
    confirm: 'Sign in',
    cancel: 'Cancel',
    retry: 'Try again',
    close: 'Close',
    errorCode: 'Error code: ',
    scopes: {
      openid: 'Your WeChat identity (to recognise you)',
      phone: 'Your phone number',
      wechat: 'Your WeChat user IDs (to link your accounts)',
      offline_access: 'Ongoing access, so you stay signed in'
    },
    outcomes: {
      approved: ['Signed in on your computer', 'You can go back to your computer.'],
      denied: ['Cancelled', 'Your computer was not signed in.'],
      expired: ['This code has expired', 'Get a new code on your computer and scan it again.'],
      taken: ['Someone else scanned this code first', 'Get a new code on your computer and scan it again.'],
      decided: ['This sign-in was already confirmed or cancelled', 'To sign in, get a new code on your computer and scan it again.'],
      wrong_app: ['This mini-program cannot confirm this sign-in', 'The code belongs to another app.'],
      invalid: ['Not a sign-in code', 'Scan the sign-in code shown on your computer with WeChat.'],
      failed: ['Something went wrong', 'Check your connection and try again.']
    }
  }
}

// Icons of WeChat's built-in <icon> for each outcome.
const ICONS = {
  approved: 'success',
  denied: 'info',
  expired: 'warn',
  taken: 'warn',
  decided: 'info',
  wrong_app: 'warn',
  invalid: 'warn',
  failed: 'warn'
}

// pickLanguage maps WeChat's language (zh_CN, zh_TW, en, …) to the page's
// words: English for en*, Chinese otherwise.
function pickLanguage (language) {
  return /^en/i.test(language || '') ? 'en' : 'zh'
}

// systemLanguage reads WeChat's language; getAppBaseInfo replaces the
// deprecated getSystemInfoSync on newer base libraries.
function systemLanguage (api) {
  try {
    if (api.getAppBaseInfo) return api.getAppBaseInfo().language
    if (api.getSystemInfoSync) return api.getSystemInfoSync().language
  } catch (e) { /* fall back to Chinese */ }
  return ''
}

function fill (text, client) {
  return text.replace('{client}', client)
}

// scopeWords turns the provider's space-separated scope into phrases; a
// scope without words is shown by its name.
function scopeWords (words, scope) {
  const out = []
  String(scope || '').split(' ').forEach(function (s) {
    if (!s) return
    const phrase = words.scopes[s] || s
    if (out.indexOf(phrase) < 0) out.push(phrase)
  })
  return out
}

// outcomeOf maps an error of decodeScene or auth.scan to the state shown.
function outcomeOf (err) {
  const code = (err && err.error) || ''
  if (code === 'invalid_scene') return 'invalid'
  if (code === 'invalid_ticket' || (err && err.status === 404)) return 'expired'
  if (code === 'ticket_taken') return 'taken'
  if (code === 'ticket_decided') return 'decided'
  if (code === 'insufficient_scope' || (err && err.status === 403)) return 'wrong_app'
  // network_error, wx_login_failed, invalid_token after the retry,
  // temporarily_unavailable, server_error, …: worth another try.
  return 'failed'
}

// createScanPage returns the Page definition.
//
// options:
//   wx        the wx API (required)
//   auth      createAuth(...)'s module (required)
//   language  WeChat's language; default wx.getAppBaseInfo().language
//
// Handlers return promises (WeChat ignores them; tests await them).
function createScanPage (options) {
  const api = options && options.wx
  const auth = options && options.auth
  if (!api || !auth) throw new Error('scan page: wx and auth are required')
  const language = options.language !== undefined ? options.language : systemLanguage(api)
  const words = WORDS[pickLanguage(language)]

  return {
    data: {
      state: 'loading',
      w: words,
      title: '',
      willGet: '',
      clientName: '',
      scopes: [],
      busy: false, // an action is on its way: both buttons are disabled
      pressed: '', // the action whose button shows a spinner
      outcome: null, // { title, detail, icon } of an outcome state
      errorCode: ''
    },

    onLoad (query) {
      this.ticket = ''
      this.step = null // what onRetry repeats
      if (api.setNavigationBarTitle) api.setNavigationBarTitle({ title: words.navTitle })
      try {
        this.ticket = decodeScene(query)
      } catch (err) {
        this.show(err)
        return Promise.resolve()
      }
      return this.open()
    },

    // open signs in and tells the provider the code was scanned: the
    // browser then shows "scanned, confirm on your phone".
    open () {
      const page = this
      page.step = function () { return page.open() }
      page.setData({ state: 'loading', busy: false, pressed: '', outcome: null, errorCode: '' })
      return auth.login()
        .then(function () { return auth.scan(page.ticket, 'scanned') })
        .then(function (res) { page.answered(res) }, function (err) { page.show(err) })
    },

    // answered shows the confirm screen for the provider's answer to
    // 'scanned' (or the outcome, if the ticket was already decided by us).
    answered (res) {
      if (res.status === 'approved' || res.status === 'denied') {
        this.show(null, res.status)
        return
      }
      const client = res.client_name || res.client_id || ''
      this.setData({
        state: 'confirm',
        clientName: client,
        title: fill(words.confirmTitle, client),
        willGet: fill(words.willGet, client),
        scopes: scopeWords(words, res.scope),
        busy: false,
        pressed: ''
      })
    },

    onConfirm () {
      return this.decide('approve')
    },

    onCancel () {
      return this.decide('deny')
    },

    decide (action) {
      // Only from the confirm screen, once: a double tap sends one action.
      if (this.data.state !== 'confirm' || this.data.busy) return Promise.resolve()
      return this.send(action)
    },

    send (action) {
      const page = this
      page.step = function () { return page.send(action) }
      page.setData({ state: 'confirm', busy: true, pressed: action, outcome: null, errorCode: '' })
      return auth.scan(page.ticket, action).then(function (res) {
        const done = res.status === 'approved' || res.status === 'denied' ? res.status : (action === 'approve' ? 'approved' : 'denied')
        page.show(null, done)
      }, function (err) {
        page.show(err)
      })
    },

    // onRetry repeats the step that failed (network, provider busy, …).
    onRetry () {
      if (this.data.state !== 'failed' || !this.step) return Promise.resolve()
      return this.step()
    },

    onClose () {
      if (api.exitMiniProgram) api.exitMiniProgram({})
      else if (api.navigateBack) api.navigateBack({})
    },

    // show switches to an outcome state: state, or the one err maps to.
    show (err, state) {
      const s = state || outcomeOf(err)
      const o = words.outcomes[s]
      this.setData({
        state: s,
        busy: false,
        pressed: '',
        outcome: { title: o[0], detail: o[1], icon: ICONS[s] },
        // The error code (never a token or the ticket) where support may
        // need it: the other outcomes say all there is to say.
        errorCode: err && (s === 'failed' || s === 'wrong_app') ? String(err.error || '') : ''
      })
    }
  }
}

module.exports = { createScanPage: createScanPage, outcomeOf: outcomeOf, WORDS: WORDS }

/* global Page, getApp, wx */
if (typeof Page === 'function') {
  Page(createScanPage({ wx: wx, auth: getApp().auth }))
}
