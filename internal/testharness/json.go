package testharness

// JSONStringsEqual reports whether v, a JSON array decoded into an `any`
// (so a []any), holds exactly the strings want, in order. A claim or field
// that is absent, not an array, or holds anything but those strings does not.
func JSONStringsEqual(v any, want ...string) bool {
	list, ok := v.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i := range list {
		if s, ok := list[i].(string); !ok || s != want[i] {
			return false
		}
	}
	return true
}
