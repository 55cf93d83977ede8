package metrics

import (
	"math"
	"strconv"
	"strings"
)

// SparklinePath returns the d attribute of an SVG path drawing values as a
// line across a width×height box: points evenly spaced from x=0 to
// x=width, y inverted (0 at the bottom) and scaled so the largest value
// touches the top. Negative values sit on the bottom; all-zero values give
// a flat line along it. A NaN or infinite value leaves a gap (the line
// restarts after it; a lone point is drawn as a zero-length segment, which
// a round line cap shows as a dot). It returns "" for no finite value or a
// box that is not a finite positive size.
func SparklinePath(values []float64, width, height float64) string {
	return sparkline(values, width, height, false)
}

// SparklineArea is SparklinePath closed down to the bottom edge, for a
// filled area under the line: one closed subpath per run of finite values.
func SparklineArea(values []float64, width, height float64) string {
	return sparkline(values, width, height, true)
}

func sparkline(values []float64, width, height float64, area bool) string {
	if !positiveFinite(width) || !positiveFinite(height) {
		return ""
	}
	top := 0.0
	finite := false
	for _, v := range values {
		if isFinite(v) {
			finite = true
			top = max(top, v)
		}
	}
	if !finite {
		return ""
	}
	x := func(i int) float64 {
		if len(values) == 1 {
			return 0
		}
		return width * (float64(i) / float64(len(values)-1))
	}
	y := func(v float64) float64 {
		if top <= 0 || v <= 0 {
			return height
		}
		return height - height*(v/top)
	}
	var b strings.Builder
	b.Grow(len(values) * 14)
	for i := 0; i < len(values); {
		if !isFinite(values[i]) {
			i++
			continue
		}
		start := i
		for i < len(values) && isFinite(values[i]) {
			i++
		}
		run := values[start:i]
		if area {
			point(&b, 'M', x(start), height)
		}
		for k, v := range run {
			cmd := byte('L')
			if k == 0 && !area {
				cmd = 'M'
			}
			point(&b, cmd, x(start+k), y(v))
		}
		switch {
		case len(values) == 1:
			// A single value spans the box, as a flat sparkline should.
			point(&b, 'L', width, y(run[0]))
			if area {
				point(&b, 'L', width, height)
			}
		case len(run) == 1 && !area:
			point(&b, 'L', x(start), y(run[0]))
		}
		if area {
			point(&b, 'L', x(i-1), height)
			b.WriteByte('Z')
		}
	}
	return b.String()
}

func point(b *strings.Builder, cmd byte, x, y float64) {
	b.WriteByte(cmd)
	b.WriteString(coord(x))
	b.WriteByte(',')
	b.WriteString(coord(y))
}

// coord formats a coordinate with at most two decimals: enough for a
// sparkline, and short.
func coord(v float64) string {
	if math.Abs(v) < 1e15 { // beyond, v*100 could overflow and has no decimals anyway
		v = math.Round(v*100) / 100
	}
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func positiveFinite(v float64) bool { return isFinite(v) && v > 0 }
