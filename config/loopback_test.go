package config

import (
	"strings"
	"testing"
)

func TestCheckLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080":   "",
		"127.0.0.2:0":      "",
		"[::1]:8080":       "",
		"localhost:8080":   "",
		"LocalHost:1":      "",
		"0.0.0.0:8080":     "not a loopback address",
		":8080":            "not a loopback address",
		"[::]:8080":        "not a loopback address",
		"192.168.1.2:8080": "not a loopback address",
		"example.com:80":   "not a loopback address",
		"127.0.0.1":        "missing port",
	} {
		err := CheckLoopbackAddr(addr)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v, want nil", addr, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want an error with %q", addr, err, want)
		}
	}
}
