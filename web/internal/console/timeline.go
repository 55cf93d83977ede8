package console

import (
	"slices"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// The timeline picture's geometry, in SVG user units.
const (
	tlWidth    = 960.0
	tlLabelW   = 150.0 // the kid column on the left
	tlRight    = 16.0
	tlLaneHead = 26.0 // an algorithm's title row
	tlRowH     = 24.0
	tlBarH     = 14.0
	tlAxisH    = 48.0
)

// timeline is the key timeline, computed here and drawn by the keys
// template: one lane per algorithm, one row per key, time to the right.
type timeline struct {
	Width, Height float64
	Start, End    time.Time
	NowX          float64
	AxisY         float64
	Lanes         []lane
	Ticks         []tick
}

type lane struct {
	Alg  string
	Y    float64 // the title's baseline
	Rows []keyRow
}

type keyRow struct {
	KID      string
	State    string
	Y        float64 // the bar's top
	Segments []segment
	Markers  []marker
}

// segment is one stretch of a key's life in one state. Planned stretches
// are the future as the configuration has it (drawn hatched).
type segment struct {
	X, W    float64
	State   string
	Planned bool
	// Open: the state lasts until someone changes it (a current key without
	// automatic rotation); drawn to the picture's right edge.
	Open bool
	From time.Time
	To   time.Time
}

// marker is a moment worth an admin's attention.
type marker struct {
	X    float64
	Kind string // safe-rotation, auto-rotation, removable, revoked
	At   time.Time
}

type tick struct {
	X     float64
	Label string
}

// Marker kinds.
const (
	markSafeRotation = "safe-rotation" // the next key may start signing
	markAutoRotation = "auto-rotation" // automatic rotation is due
	markRemovable    = "removable"     // a retired key leaves the JWKS
	markRevoked      = "revoked"
)

// buildTimeline lays the keys out on a common time axis from the earliest
// key's creation to past the last planned moment.
func buildTimeline(ks []keys.KeyInfo, p admin.KeyPolicy, now time.Time) timeline {
	algs := slices.Clone(p.Algorithms)
	for _, k := range ks {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	start, end := now, now
	widen := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if t.Before(start) {
			start = t
		}
		if t.After(end) {
			end = t
		}
	}
	for _, k := range ks {
		widen(k.CreatedAt)
		for _, m := range markersOf(k, p) {
			widen(m.At)
		}
	}
	span := end.Sub(start)
	if span < time.Hour {
		span = time.Hour
		end = start.Add(span)
	}
	// Leave room either side so that bars and markers never touch the edge.
	pad := span / 20
	start, end = start.Add(-pad), end.Add(pad)
	tl := timeline{Width: tlWidth, Start: start, End: end}
	x := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(end.Sub(start))
		return tlLabelW + f*(tlWidth-tlLabelW-tlRight)
	}
	tl.NowX = x(now)
	y := 0.0
	for _, alg := range algs {
		y += tlLaneHead
		ln := lane{Alg: alg, Y: y - 8}
		for _, k := range byCreation(ks, alg) {
			row := keyRow{KID: k.KID, State: string(k.State), Y: y + (tlRowH-tlBarH)/2}
			for _, s := range segmentsOf(k, p, now) {
				if s.Open {
					s.To = end
				}
				s.X, s.W = x(s.From), max(x(s.To)-x(s.From), 1)
				row.Segments = append(row.Segments, s)
			}
			for _, m := range markersOf(k, p) {
				m.X = x(m.At)
				row.Markers = append(row.Markers, m)
			}
			ln.Rows = append(ln.Rows, row)
			y += tlRowH
		}
		tl.Lanes = append(tl.Lanes, ln)
	}
	tl.AxisY = y + 8
	tl.Height = y + tlAxisH
	tl.Ticks = ticksBetween(start, end, x)
	return tl
}

// byCreation returns alg's keys, oldest first.
func byCreation(ks []keys.KeyInfo, alg string) []keys.KeyInfo {
	var out []keys.KeyInfo
	for _, k := range ks {
		if k.Algorithm == alg {
			out = append(out, k)
		}
	}
	slices.SortStableFunc(out, func(a, b keys.KeyInfo) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// segmentsOf splits a key's life into its states, the past solid and the
// configured future planned.
func segmentsOf(k keys.KeyInfo, p admin.KeyPolicy, now time.Time) []segment {
	var out []segment
	add := func(state string, from, to time.Time, planned bool) {
		if from.IsZero() || !to.After(from) {
			return
		}
		out = append(out, segment{State: state, From: from, To: to, Planned: planned})
	}
	// The moment the key left the JWKS, or now if it has not.
	stop := now
	if !k.RevokedAt.IsZero() {
		stop = k.RevokedAt
	}
	firstOf := func(ts ...time.Time) time.Time {
		t := stop
		for _, c := range ts {
			if !c.IsZero() && c.Before(t) {
				t = c
			}
		}
		return t
	}
	add(string(storage.KeyNext), k.CreatedAt, firstOf(k.ActivatedAt), false)
	if !k.ActivatedAt.IsZero() {
		add(string(storage.KeyCurrent), k.ActivatedAt, firstOf(k.RetiredAt), false)
	}
	if !k.RetiredAt.IsZero() {
		add(string(storage.KeyRetired), k.RetiredAt, stop, false)
	}
	switch k.State {
	case storage.KeyRevoked:
		// Kept, unpublished, until cleanup.
		add(string(storage.KeyRevoked), k.RevokedAt, maxTime(now, k.RevokedAt.Add(time.Minute)), false)
	case storage.KeyRetired:
		add(string(storage.KeyRetired), now, k.RemoveAfter, true)
	case storage.KeyCurrent:
		if p.RotationPeriod > 0 {
			add(string(storage.KeyCurrent), now, since(k).Add(p.RotationPeriod), true)
		} else {
			// Signs until rotated by hand: open-ended.
			out = append(out, segment{State: string(storage.KeyCurrent), From: maxTime(now, since(k)), Planned: true, Open: true})
		}
	case storage.KeyNext:
		add(string(storage.KeyNext), now, k.CreatedAt.Add(p.SafePublishDelay), true)
	}
	return out
}

// markersOf lists the moments that matter for a key in its state.
func markersOf(k keys.KeyInfo, p admin.KeyPolicy) []marker {
	switch k.State {
	case storage.KeyNext:
		return []marker{{Kind: markSafeRotation, At: k.CreatedAt.Add(p.SafePublishDelay)}}
	case storage.KeyCurrent:
		if p.RotationPeriod > 0 {
			return []marker{{Kind: markAutoRotation, At: since(k).Add(p.RotationPeriod)}}
		}
	case storage.KeyRetired:
		if !k.RemoveAfter.IsZero() {
			return []marker{{Kind: markRemovable, At: k.RemoveAfter}}
		}
	case storage.KeyRevoked:
		return []marker{{Kind: markRevoked, At: k.RevokedAt}}
	}
	return nil
}

// since is when a current key started signing (its creation, for a key
// made current at bootstrap).
func since(k keys.KeyInfo) time.Time {
	if !k.ActivatedAt.IsZero() {
		return k.ActivatedAt
	}
	return k.CreatedAt
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ticksBetween puts 4–10 labelled ticks on the axis at a round step.
func ticksBetween(start, end time.Time, x func(time.Time) float64) []tick {
	steps := []time.Duration{
		5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour,
	}
	span := end.Sub(start)
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	layout := "01-02 15:04"
	if step >= 24*time.Hour {
		layout = "2006-01-02"
	}
	var out []tick
	for t := start.UTC().Truncate(step).Add(step); t.Before(end); t = t.Add(step) {
		out = append(out, tick{X: x(t), Label: t.Format(layout)})
	}
	return out
}
