// Package logredact is the single point that keeps secrets out of logs: a
// slog.Handler that replaces the values of secret-like attributes.
package logredact

import (
	"context"
	"log/slog"
	"strings"
)

// sensitiveKeys are attribute names whose values never reach a log sink.
// Code paths already avoid logging such values; this is the single point
// that catches a mistake.
var sensitiveKeys = []string{
	"secret", "token", "code", "session_key", "sessionkey", "password",
	"phone", "authorization", "kek", "encrypted_data", "encrypteddata", "iv", "assertion", "cookie",
}

// New wraps h so that attributes named like secrets are
// replaced by "[redacted]", in groups too.
func New(h slog.Handler) slog.Handler { return redactor{h} }

type redactor struct{ next slog.Handler }

func (r redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.next.Handle(ctx, out)
}

func (r redactor) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return redactor{r.next.WithAttrs(red)}
}

func (r redactor) WithGroup(name string) slog.Handler { return redactor{r.next.WithGroup(name)} }

func redactAttr(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		g := a.Value.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = redactAttr(x)
		}
		return slog.Group(a.Key, red...)
	}
	if isSensitive(a.Key) {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

func isSensitive(key string) bool {
	k := strings.ToLower(key)
	for _, s := range sensitiveKeys {
		if k == s || strings.HasSuffix(k, "_"+s) || strings.HasPrefix(k, s+"_") {
			return true
		}
	}
	return false
}
