package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a process the bench started (a server or the emulator).
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startChild starts bin with args, its stderr (and stdout unless the caller
// reads it) going to logPath. The child gets SIGTERM if the bench dies.
func startChild(name, logPath string, env []string, stdout io.Writer, bin string, args ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = logf
	cmd.Stdout = logf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits for a graceful exit, then kills.
func (c *child) stop() error {
	select {
	case <-c.exited:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", c.name)
	}
}

// logTail returns the end of the child's log for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// waitReady polls url/readyz until it answers 200, the child exits or
// timeout passes.
func waitReady(ctx context.Context, c *child, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			_, _ = readAllLimited(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited during start-up (%v); log %s:\n%s", c.name, c.waitErr, c.logPath, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v; log %s:\n%s", c.name, timeout, c.logPath, c.logTail())
		}
	}
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before the server binds it; the server then fails to start and
// the error says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startEmulatorChild runs `wxoidc-bench emulator` (this binary) and returns
// it with its base URL, read from the first line it prints.
func startEmulatorChild(ctx context.Context, logPath, appID, secretFile string) (*child, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	pr, pw := io.Pipe()
	c, err := startChild("emulator", logPath, benchEnviron(), pw, self, "emulator", "--addr", "127.0.0.1:0", "--appid", appID, "--secret-file", secretFile)
	if err != nil {
		return nil, "", err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr) // keep the child from blocking on stdout
	}()
	select {
	case line, ok := <-lines:
		url, found := strings.CutPrefix(line, emulatorBanner)
		if !ok || !found {
			_ = c.stop()
			return nil, "", fmt.Errorf("emulator did not announce its address (got %q); log %s:\n%s", line, logPath, c.logTail())
		}
		go func() { <-c.exited; pw.Close() }()
		return c, strings.TrimSpace(url), nil
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	_ = c.stop()
	pw.Close()
	return nil, "", errors.New("emulator did not start within 30s")
}

// benchEnviron is the environment of the children: the bench's own, minus
// WXOIDC_* variables, so that a developer's shell cannot change what the
// standard set measures.
func benchEnviron(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WXOIDC_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

func itoa(n int) string { return strconv.Itoa(n) }
