package web

import "testing"

// Browser sign-in serves OIDC Back-Channel Logout 1.0, with sid (§2.1).
func TestDiscoveryBackchannelLogout(t *testing.T) {
	doc := map[string]interface{}{}
	addBrowserDiscovery(doc, "https://id.example.com")
	for _, k := range []string{"backchannel_logout_supported", "backchannel_logout_session_supported"} {
		if v, ok := doc[k].(bool); !ok || !v {
			t.Errorf("%s = %v, want true", k, doc[k])
		}
	}
}
