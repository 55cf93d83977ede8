package metrics

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestSparklinePath(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(+1)
	for _, tc := range []struct {
		name          string
		values        []float64
		width, height float64
		want          string
	}{
		{"no values", nil, 100, 20, ""},
		{"all zero: flat on the bottom", []float64{0, 0, 0}, 100, 20, "M0,20L50,20L100,20"},
		{"scaled to the max, y inverted", []float64{1, 2, 4}, 100, 20, "M0,15L50,10L100,0"},
		{"one value spans the box", []float64{5}, 100, 20, "M0,0L100,0"},
		{"one zero", []float64{0}, 100, 20, "M0,20L100,20"},
		{"negative sits on the bottom", []float64{-1, 1}, 100, 10, "M0,10L100,0"},
		{"all negative", []float64{-3, -1}, 100, 10, "M0,10L100,10"},
		{"NaN and Inf leave gaps", []float64{1, nan, 2, inf, 2, 1}, 50, 10, "M0,5L0,5M20,0L20,0M40,0L50,5"},
		{"only NaN", []float64{nan, nan}, 100, 10, ""},
		{"-Inf is a gap too", []float64{math.Inf(-1), 3}, 10, 10, "M10,0L10,0"},
		{"rounded to two decimals", []float64{1, 3, 2}, 1, 1, "M0,0.67L0.5,0L1,0.33"},
		{"huge values", []float64{math.MaxFloat64, math.MaxFloat64 / 2}, 10, 10, "M0,0L10,5"},
		{"zero width", []float64{1, 2}, 0, 10, ""},
		{"negative height", []float64{1, 2}, 10, -1, ""},
		{"NaN width", []float64{1, 2}, nan, 10, ""},
		{"Inf height", []float64{1, 2}, 10, inf, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SparklinePath(tc.values, tc.width, tc.height); got != tc.want {
				t.Errorf("SparklinePath(%v, %v, %v) = %q, want %q", tc.values, tc.width, tc.height, got, tc.want)
			}
		})
	}
}

func TestSparklineArea(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []float64
		want   string
	}{
		{"no values", nil, ""},
		{"closed to the bottom", []float64{1, 2}, "M0,10L0,5L10,0L10,10Z"},
		{"one subpath per run", []float64{2, math.NaN(), 1, 2}, "M0,10L0,0L0,10ZM6.67,10L6.67,5L10,0L10,10Z"},
		{"one value spans the box", []float64{1}, "M0,10L0,0L10,0L10,10L0,10Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SparklineArea(tc.values, 10, 10); got != tc.want {
				t.Errorf("SparklineArea(%v) = %q, want %q", tc.values, got, tc.want)
			}
		})
	}
}

// Whatever the values and box, the path has only M/L/Z commands with
// finite coordinates inside the box, and one point per finite value.
func FuzzSparklinePath(f *testing.F) {
	f.Add([]byte{}, 100.0, 20.0)
	f.Add(floatBytes(1, 2, 3), 100.0, 20.0)
	f.Add(floatBytes(0, math.NaN(), math.Inf(1), -5, math.MaxFloat64, math.SmallestNonzeroFloat64), 1e-300, 1e300)
	f.Fuzz(func(t *testing.T, raw []byte, width, height float64) {
		var values []float64
		for len(raw) >= 8 {
			values = append(values, math.Float64frombits(binary.LittleEndian.Uint64(raw)))
			raw = raw[8:]
		}
		for _, area := range []bool{false, true} {
			d := sparkline(values, width, height, area)
			finite := 0
			for _, v := range values {
				if isFinite(v) {
					finite++
				}
			}
			if d == "" {
				if finite > 0 && positiveFinite(width) && positiveFinite(height) {
					t.Fatalf("empty path for %v in %vx%v", values, width, height)
				}
				continue
			}
			checkPath(t, d, width, height)
		}
	})
}

func checkPath(t *testing.T, d string, width, height float64) {
	t.Helper()
	cmds := strings.FieldsFunc(d, func(r rune) bool { return r == 'M' || r == 'L' || r == 'Z' })
	if strings.ContainsFunc(d, func(r rune) bool { return !strings.ContainsRune("MLZ0123456789.,e+", r) }) {
		t.Fatalf("unexpected character in %q", d)
	}
	// Rounding to two decimals may step just past the box edge.
	slack := func(v float64) float64 { return 0.005 + v*1e-12 }
	for _, c := range cmds {
		xs, ys, ok := strings.Cut(c, ",")
		if !ok {
			t.Fatalf("bad point %q in %q", c, d)
		}
		x, errX := strconv.ParseFloat(xs, 64)
		y, errY := strconv.ParseFloat(ys, 64)
		if errX != nil || errY != nil || !isFinite(x) || !isFinite(y) {
			t.Fatalf("bad point %q in %q", c, d)
		}
		if x < 0 || y < 0 || x > width+slack(width) || y > height+slack(height) {
			t.Fatalf("point %q outside %vx%v in %q", c, width, height, d)
		}
	}
}

func floatBytes(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}
