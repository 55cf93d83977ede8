package deploy

import (
	"fmt"
	"slices"
	"strings"
)

// PromQL's functions and aggregation operators (Prometheus 2.x and 3.x). An
// identifier followed by "(" that is not here is reported, so a misspelt
// function is caught rather than taken for a metric.
var promqlFunctions = setOf(
	"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
	"avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
	"count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
	"delta", "deriv", "double_exponential_smoothing", "end", "exp", "floor", "histogram_avg",
	"histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
	"histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info",
	"irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
	"mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
	"predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
	"round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc",
	"sort_desc", "sqrt", "start", "stddev_over_time", "stdvar_over_time", "sum_over_time",
	"tan", "tanh", "time", "timestamp", "vector", "year",
)

var promqlAggregations = setOf(
	"avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min",
	"quantile", "stddev", "stdvar", "sum", "topk",
)

// Keywords that are never metric names. by, without, on, ignoring,
// group_left and group_right take a parenthesised label list, skipped whole.
var (
	promqlLabelLists = setOf("by", "without", "on", "ignoring", "group_left", "group_right")
	promqlKeywords   = setOf("and", "or", "unless", "atan2", "bool", "offset", "inf", "nan",
		"by", "without", "on", "ignoring", "group_left", "group_right")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// metricNames returns the metric names a PromQL expression selects, sorted
// and without repeats. It is a tokenizer, not a parser: it skips strings,
// comments, label matchers ({...}), ranges and subqueries ([...]), numbers
// and durations, Grafana variables ($x, ${x}) and label lists after by,
// without, on, ignoring, group_left and group_right. What remains is
// function and aggregation names (an unknown one is an error), keywords and
// metric names. Unbalanced brackets and unterminated strings are errors.
func metricNames(expr string) ([]string, error) {
	var names []string
	var open []int // offsets of the "(" not yet closed
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '{' || c == '[':
			end, err := skipGroup(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '}' || c == ']':
			return nil, fmt.Errorf("unbalanced %q at offset %d", c, i)
		case c == '(':
			open = append(open, i)
			i++
		case c == ')':
			if len(open) == 0 {
				return nil, fmt.Errorf("unbalanced %q at offset %d", c, i)
			}
			open = open[:len(open)-1]
			i++
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				end, err := skipGroup(expr, i)
				if err != nil {
					return nil, err
				}
				i = end
			} else {
				for i < len(expr) && isIdentChar(expr[i]) {
					i++
				}
			}
		case isDigit(c) || (c == '.' && i+1 < len(expr) && isDigit(expr[i+1])):
			// Numbers (1e3, 0x1f, 0.99) and durations (5m, 1h30m).
			for i < len(expr) && (isIdentChar(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdentChar(expr[i]) {
				i++
			}
			ident := expr[start:i]
			lower := strings.ToLower(ident)
			next := skipSpace(expr, i)
			followedByParen := next < len(expr) && expr[next] == '('
			switch {
			case promqlLabelLists[lower]:
				if followedByParen {
					end, err := skipGroup(expr, next)
					if err != nil {
						return nil, err
					}
					i = end
				}
			case promqlKeywords[lower], promqlAggregations[lower]:
			case followedByParen:
				if !promqlFunctions[ident] {
					return nil, fmt.Errorf("unknown PromQL function %q", ident)
				}
			default:
				names = append(names, ident)
			}
		default:
			i++
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("%q at offset %d is never closed", '(', open[len(open)-1])
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// skipGroup returns the offset just past the bracket that closes the one
// at start, skipping strings inside.
func skipGroup(s string, start int) (int, error) {
	var stack []byte
	closing := map[byte]byte{'{': '}', '[': ']', '(': ')'}
	for i := start; i < len(s); {
		c := s[i]
		switch c {
		case '"', '\'', '`':
			end, err := skipString(s, i)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case '{', '[', '(':
			stack = append(stack, closing[c])
		case '}', ']', ')':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return 0, fmt.Errorf("unbalanced %q at offset %d", c, i)
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return 0, fmt.Errorf("%q at offset %d is never closed", s[start], start)
}

// skipString returns the offset just past the string literal at start.
func skipString(s string, start int) (int, error) {
	quote := s[start]
	for i := start + 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quote != '`':
			i++
		case s[i] == quote:
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("string at offset %d is never closed", start)
}

func skipSpace(s string, i int) int {
	for i < len(s) && strings.IndexByte(" \t\r\n", s[i]) >= 0 {
		i++
	}
	return i
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
