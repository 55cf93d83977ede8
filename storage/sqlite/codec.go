package sqlite

import (
	"encoding/json"
	"fmt"
	"time"
)

// timeArg encodes t as microseconds since the Unix epoch; the zero time is NULL.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// listArg encodes a string list as a JSON array; nil and empty both become "[]".
func listArg(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ss) // cannot fail for []string
	return string(b)
}

// bytesArg stores an empty byte slice as NULL, so that nil and empty read
// back alike.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// timeCol scans a timeArg column into a UTC time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", src)
	}
	return nil
}

// listCol scans a listArg column; an empty list reads back nil.
type listCol struct{ ss *[]string }

func (c listCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c.ss = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column: unexpected %T", src)
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if len(ss) == 0 {
		ss = nil
	}
	*c.ss = ss
	return nil
}

// bytesCol scans a BLOB column into a fresh slice; empty reads back nil.
type bytesCol struct{ b *[]byte }

func (c bytesCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.b = nil
	case []byte:
		if len(v) == 0 {
			*c.b = nil
		} else {
			// The driver may reuse its buffer after Scan returns.
			*c.b = append([]byte(nil), v...)
		}
	default:
		return fmt.Errorf("bytes column: unexpected %T", src)
	}
	return nil
}
