package keys

import (
	"strings"
	"testing"
)

func TestNewKIDNeverStartsWithADash(t *testing.T) {
	// About 1 in 64 raw draws starts with '-'; 20,000 draws without one
	// would happen by chance with probability (63/64)^20000 ≈ 1e-137.
	seen := map[string]bool{}
	firsts := map[byte]bool{}
	for range 20000 {
		kid := newKID()
		if strings.HasPrefix(kid, "-") {
			t.Fatalf("kid %q starts with '-'", kid)
		}
		if len(kid) != 22 || seen[kid] {
			t.Fatalf("kid %q: want 22 characters, never repeated", kid)
		}
		seen[kid] = true
		firsts[kid[0]] = true
	}
	// Every other first character still occurs: the rule drops one, not more.
	if len(firsts) != 63 {
		t.Fatalf("kids start with %d distinct characters, want 63", len(firsts))
	}
}
