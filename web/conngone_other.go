//go:build !unix

package web

import "net"

// connGone cannot look into a socket here: a waiting browser that left is
// answered when its wait ends.
func connGone(net.Conn) bool { return false }
