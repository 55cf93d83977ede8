// Package pages renders the HTML pages a person sees during browser sign-in
// (login, consent, errors, logout) in zh-CN and en, with their stylesheet and
// images embedded in the binary. Only package web uses it.
//
// Every page is server-rendered with html/template, works without JavaScript,
// loads nothing from third parties, and is sent with a strict
// Content-Security-Policy (frame-ancestors 'none', scripts only by nonce),
// Cache-Control: no-store and Referrer-Policy: no-referrer: a sign-in page
// carries one-time request state and must never be cached, framed
// (clickjacking) or leak its URL to another site.
package pages
