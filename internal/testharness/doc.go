// Package testharness holds the helpers the tests of several packages share:
// a manual clock, a goroutine-safe buffer, a free loopback address and a
// build of the wxoidc binary.
//
// It does not import package testing: the wechat emulator, which the wxoidc
// binary links for its dev mode, uses Clock, and the binary should not carry
// the test framework. Helpers that fail a test take a TB instead.
package testharness

// TB is the part of testing.TB the helpers use; *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
}
