package postgres

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Statements returns the number of SQL statements this Storage has sent,
// transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) aside.
// It is for benchmarks and tests that count statements per request: on
// PostgreSQL each one is a round trip.
func (s *Storage) Statements() uint64 {
	return s.statements.n.Load()
}

// statementCounter is the pgx QueryTracer behind Statements. Every statement
// that pgx sends as a query, transaction control included, passes through
// TraceQueryStart; a prepare of a new statement is traced apart (as a
// PrepareTracer) and is therefore not counted.
type statementCounter struct{ n atomic.Uint64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !transactionControl(data.SQL) {
		c.n.Add(1)
	}
	return ctx
}

func (*statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// transactionControl reports whether sql is one of the statements pgx sends
// to begin or end a transaction or a savepoint.
// It runs for every statement, so it compares without allocating.
func transactionControl(sql string) bool {
	word, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	for _, w := range transactionWords {
		if strings.EqualFold(word, w) {
			return true
		}
	}
	return false
}

var transactionWords = [...]string{"begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release"}
