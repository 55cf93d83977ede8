// Package testharness holds the helpers the tests of several packages share:
// a manual clock, a goroutine-safe buffer, a set of secrets the output must
// not leak, a free loopback address and a build of the wxoidc binary.
package testharness
