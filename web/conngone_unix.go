//go:build unix

package web

import (
	"errors"
	"net"
	"syscall"
)

// connGone reports whether the peer of c closed the connection (or reset
// it): a non-blocking peek at its socket reads end-of-file or an error
// other than "nothing yet". It consumes nothing. A connection it cannot
// look into counts as open (it is then answered when its wait ends).
func connGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil:
			gone = n == 0 // 0 bytes: the peer closed; data: a pipelined request, still there
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR):
		default:
			gone = true
		}
		return true // one look, never wait
	})
	return gone || err != nil
}
