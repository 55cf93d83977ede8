package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// target is where requests go: a host:port and the issuer's path prefix.
type target struct {
	addr   string // host:port to dial
	host   string // Host header
	prefix string // path prefix, "" or "/something"
}

func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return target{}, fmt.Errorf("url %q: only http:// is supported (the loader measures the server, not TLS)", raw)
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("url %q: no host", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	p := u.EscapedPath()
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return target{addr: addr, host: u.Host, prefix: p}, nil
}

// request builds the bytes of one HTTP/1.1 request. Headers are name, value
// pairs.
func (t target) request(method, path string, body []byte, headers ...string) []byte {
	b := make([]byte, 0, 256+len(body))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, t.prefix...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: wxoidc-bench\r\n"...)
	for i := 0; i+1 < len(headers); i += 2 {
		b = append(b, headers[i]...)
		b = append(b, ": "...)
		b = append(b, headers[i+1]...)
		b = append(b, "\r\n"...)
	}
	if body != nil || method == http.MethodPost {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// conn is one keep-alive HTTP/1.1 connection, used by one goroutine. It is
// deliberately lean (no connection pool, no goroutine per connection, as
// net/http's Transport has) so that the loader, which shares the machine with
// the server, spends as little CPU per request as it can.
type conn struct {
	t       target
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	body    bytes.Buffer
	// header is the last response's header (redirects' Location).
	header http.Header
}

func newConn(t target, timeout time.Duration) *conn {
	return &conn{t: t, timeout: timeout}
}

func (c *conn) close() {
	if c.c != nil {
		_ = c.c.Close()
		c.c = nil
	}
}

func (c *conn) dial() error {
	nc, err := net.DialTimeout("tcp", c.t.addr, c.timeout)
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c.c = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
		c.bw = bufio.NewWriterSize(nc, 8<<10)
	} else {
		c.br.Reset(nc)
		c.bw.Reset(nc)
	}
	return nil
}

// do sends req and reads the whole response. The body is valid until the
// next call. A failed exchange closes the connection; the next call redials.
func (c *conn) do(req []byte) (status int, body []byte, err error) {
	if c.c == nil {
		if err := c.dial(); err != nil {
			return 0, nil, fmt.Errorf("dial %s: %w", c.t.addr, err)
		}
	}
	if err := c.c.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.close()
		return 0, nil, err
	}
	status, body, keep, err := c.exchange(req)
	if err != nil || !keep {
		c.close()
	}
	return status, body, err
}

func (c *conn) exchange(req []byte) (status int, body []byte, keep bool, err error) {
	if _, err := c.bw.Write(req); err != nil {
		return 0, nil, false, err
	}
	if err := c.bw.Flush(); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	c.header = resp.Header
	c.body.Reset()
	_, err = c.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, nil, false, err
	}
	return resp.StatusCode, c.body.Bytes(), !resp.Close, nil
}

// errStatus is a response with an unexpected status.
type errStatus struct {
	status int
	body   string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.status, e.body)
}

// statusError returns an *errStatus for a non-2xx answer, nil otherwise. The
// body is cut short: it is an OAuth error document, never a credential, but
// a report needs only its start.
func statusError(status int, body []byte) error {
	if status >= 200 && status < 300 {
		return nil
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return &errStatus{status: status, body: string(body)}
}

// readAllLimited is for the rare responses read through net/http.
func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err == nil && len(b) > 1<<20 {
		err = errors.New("response larger than 1 MiB")
	}
	return b, err
}
