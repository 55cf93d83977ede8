// Package console is the admin web console served on the admin listener
// under Prefix: signing keys with their timeline, clients, accounts, the
// audit log and the instance's health. Only package web uses it.
//
// An admin signs in by pasting an admin bearer token; the console then
// keeps a server-side session (a random id in an HttpOnly, SameSite=Strict
// cookie scoped to Prefix) so the token itself is never stored in the
// browser. Every state-changing request is a POST carrying the session's
// CSRF token, and is refused from another site (Sec-Fetch-Site). Pages are
// rendered on the server with html/template, load nothing from third
// parties, run no script, and are sent with a strict Content-Security-Policy,
// Cache-Control: no-store and frame-ancestors 'none'. Every action goes
// through admin.Service as admin.ConsoleActor, so it writes the same audit
// entry as the admin API.
//
// Sessions live in this process's memory: an instance's admin listener is
// its own (loopback by default), and a restart signs admins out.
package console
