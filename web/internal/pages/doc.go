// Package pages renders the HTML pages a person sees during browser sign-in
// (login, the scan page, consent, errors, logout) in zh-CN and en, with their
// stylesheet, images and one script embedded in the binary. Only package web
// uses it.
//
// Every page is server-rendered with html/template, works without JavaScript
// (the scan page needs its script, scan.js, only to wait for the phone and
// swap in a fresh code; its links work without it), loads nothing from third
// parties, and is sent with a strict
// Content-Security-Policy (frame-ancestors 'none', scripts only by nonce),
// Cache-Control: no-store and Referrer-Policy: no-referrer: a sign-in page
// carries one-time request state and must never be cached, framed
// (clickjacking) or leak its URL to another site.
package pages
