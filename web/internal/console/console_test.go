package console

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// A key set in every state, laid out: bars in time order and inside the
// picture, the "now" line where now is, and the safe moments marked.
func TestBuildTimeline(t *testing.T) {
	day := 24 * time.Hour
	p := admin.KeyPolicy{
		Algorithms: []string{keys.ES256}, SafePublishDelay: time.Minute, RotationPeriod: 30 * day,
		RetiredKeep: day + 2*time.Minute,
	}
	now := t0.Add(40 * day)
	ks := []keys.KeyInfo{
		{KID: "old", Algorithm: keys.ES256, State: storage.KeyRetired, CreatedAt: t0, ActivatedAt: t0, RetiredAt: t0.Add(39 * day), RemoveAfter: t0.Add(40*day + 2*time.Hour)},
		{KID: "cur", Algorithm: keys.ES256, State: storage.KeyCurrent, CreatedAt: t0.Add(day), ActivatedAt: t0.Add(39 * day)},
		{KID: "nxt", Algorithm: keys.ES256, State: storage.KeyNext, CreatedAt: now.Add(-30 * time.Second)},
		{KID: "bad", Algorithm: keys.ES256, State: storage.KeyRevoked, CreatedAt: t0.Add(2 * day), RevokedAt: t0.Add(3 * day)},
	}
	tl := buildTimeline(ks, p, now)
	if len(tl.Lanes) != 1 || len(tl.Lanes[0].Rows) != 4 {
		t.Fatalf("lanes: %+v", tl.Lanes)
	}
	if tl.NowX <= tlLabelW || tl.NowX >= tl.Width-tlRight {
		t.Errorf("now at x=%v, outside the plot", tl.NowX)
	}
	rows := map[string]keyRow{}
	for _, r := range tl.Lanes[0].Rows {
		rows[r.KID] = r
		for _, s := range r.Segments {
			if s.X < tlLabelW || s.X+s.W > tl.Width-tlRight+0.001 {
				t.Errorf("%s %s segment outside the plot: x=%v w=%v", r.KID, s.State, s.X, s.W)
			}
		}
	}
	states := func(r keyRow) (out []string) {
		for _, s := range r.Segments {
			st := s.State
			if s.Planned {
				st += "*"
			}
			out = append(out, st)
		}
		return out
	}
	for kid, want := range map[string]string{
		"old": "current retired retired*", // signing, retired, then published until RemoveAfter
		"cur": "next current current*",    // next for 38 days, now current until the automatic rotation
		"nxt": "next next*",               // published 30 s, safe in 30 s
		"bad": "next revoked",
	} {
		if got := strings.Join(states(rows[kid]), " "); got != want {
			t.Errorf("%s: segments %q, want %q", kid, got, want)
		}
	}
	marks := map[string]marker{}
	for _, r := range tl.Lanes[0].Rows {
		for _, m := range r.Markers {
			marks[r.KID+"/"+m.Kind] = m
		}
	}
	for key, at := range map[string]time.Time{
		"nxt/" + markSafeRotation: now.Add(30 * time.Second),
		"cur/" + markAutoRotation: t0.Add(69 * day),
		"old/" + markRemovable:    t0.Add(40*day + 2*time.Hour),
		"bad/" + markRevoked:      t0.Add(3 * day),
	} {
		if m, ok := marks[key]; !ok || !m.At.Equal(at) {
			t.Errorf("marker %s: %+v, want at %s", key, m, at)
		}
	}
	// Later moments are further right.
	if !(marks["bad/revoked"].X < tl.NowX && tl.NowX < marks["old/removable"].X && marks["old/removable"].X < marks["cur/auto-rotation"].X) {
		t.Errorf("marker order: %+v now=%v", marks, tl.NowX)
	}
	if len(tl.Ticks) < 3 || len(tl.Ticks) > 12 {
		t.Errorf("ticks: %d", len(tl.Ticks))
	}
}

// Without automatic rotation a current key signs until someone rotates it:
// its bar runs to the picture's right edge, even on the day it was made.
func TestTimelineOpenCurrent(t *testing.T) {
	p := admin.KeyPolicy{Algorithms: []string{keys.ES256}, SafePublishDelay: time.Minute}
	ks := []keys.KeyInfo{
		{KID: "cur", Algorithm: keys.ES256, State: storage.KeyCurrent, CreatedAt: t0, ActivatedAt: t0},
		{KID: "nxt", Algorithm: keys.ES256, State: storage.KeyNext, CreatedAt: t0},
	}
	tl := buildTimeline(ks, p, t0)
	cur := tl.Lanes[0].Rows[0]
	if cur.KID != "cur" || len(cur.Segments) != 1 {
		t.Fatalf("current key: %+v", cur)
	}
	s := cur.Segments[0]
	if !s.Open || !s.Planned || s.State != "current" || s.X != tl.NowX || s.X+s.W < tl.Width-tlRight-0.001 {
		t.Errorf("open segment %+v, now at %v, right edge %v", s, tl.NowX, tl.Width-tlRight)
	}
}

// The keys page's SVG is well-formed XML that carries each key's state.
func TestTimelineSVG(t *testing.T) {
	r, err := newRenderer()
	if err != nil {
		t.Fatal(err)
	}
	p := admin.KeyPolicy{Algorithms: []string{keys.ES256}, SafePublishDelay: time.Minute}
	ks := []keys.KeyInfo{
		{KID: "a<b", Algorithm: keys.ES256, State: storage.KeyCurrent, CreatedAt: t0, ActivatedAt: t0},
		{KID: "n", Algorithm: keys.ES256, State: storage.KeyNext, CreatedAt: t0.Add(time.Hour)},
	}
	v := view{Loc: "en", Now: t0.Add(2 * time.Hour), Data: keysData{Timeline: buildTimeline(ks, p, t0.Add(2*time.Hour)), Algs: p.Algorithms}}
	var sb strings.Builder
	if err := r.pages["keys"].ExecuteTemplate(&sb, "content", v); err != nil {
		t.Fatal(err)
	}
	html := sb.String()
	svg := html[strings.Index(html, "<svg") : strings.Index(html, "</svg>")+len("</svg>")]
	var doc struct {
		Groups []struct {
			Kid   string `xml:"data-kid,attr"`
			State string `xml:"data-state,attr"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("timeline is not XML: %v\n%s", err, svg)
	}
	got := map[string]string{}
	for _, g := range doc.Groups {
		if g.Kid != "" {
			got[g.Kid] = g.State
		}
	}
	if got["a<b"] != "current" || got["n"] != "next" {
		t.Errorf("keys in the SVG: %v", got)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/admin/ui/keys":             "/admin/ui/keys",
		"/admin/ui/clients?page=2":   "/admin/ui/clients?page=2",
		"":                           "",
		"/admin/uix":                 "",
		"/admin/ui":                  "",
		"https://evil.example/":      "",
		"//evil.example/admin/ui/":   "",
		"/admin/ui/\\evil":           "",
		"/admin/ui/\r\nSet-Cookie:x": "",
		"javascript:alert(1)":        "",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// The session table stays bounded: expired sessions go first, then the
// least recently used.
func TestSessionsBounded(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	st := newSessions(clock, time.Hour, 10*time.Hour, 3)
	a, _ := st.create("a")
	now = now.Add(time.Minute)
	b, _ := st.create("b")
	now = now.Add(time.Minute)
	c, _ := st.create("c")
	now = now.Add(time.Minute)
	st.get(a) // a is now the most recently used
	d, _ := st.create("d")
	if st.len() != 3 {
		t.Fatalf("%d sessions", st.len())
	}
	if _, ok := st.get(b); ok {
		t.Error("the least recently used session survived")
	}
	for _, id := range []string{a, c, d} {
		if _, ok := st.get(id); !ok {
			t.Errorf("session %s lost", id)
		}
	}
	if _, ok := st.get("forged"); ok {
		t.Error("a forged id found a session")
	}
}

// len is the number of sessions held, expired ones included.
func (t *sessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
