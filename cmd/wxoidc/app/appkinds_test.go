package app_test

import (
	"testing"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
)

// The wiring hands config's app kinds to provider as they are: the two
// packages must name them alike.
func TestAppKindNamesAgree(t *testing.T) {
	for cfg, prov := range map[string]string{
		config.WeChatKindMiniProgram:     provider.AppKindMiniProgram,
		config.WeChatKindWebsite:         provider.AppKindWebsite,
		config.WeChatKindOfficialAccount: provider.AppKindOfficialAccount,
		config.WeChatKindMobileApp:       provider.AppKindMobileApp,
	} {
		if cfg != prov {
			t.Errorf("config kind %q, provider kind %q", cfg, prov)
		}
	}
	if len(config.WeChatKinds) != 4 {
		t.Errorf("config has %d kinds, this test knows 4: map the new one", len(config.WeChatKinds))
	}
}
