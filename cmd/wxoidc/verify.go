package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"
)

// runVerify verifies an ID token the way a relying party does: discovery,
// JWKS, signature, issuer, audience and expiry, through go-oidc.
func runVerify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "verify", "verify --issuer URL --audience CLIENT_ID ID_TOKEN")
	issuer := fs.String("issuer", "", "issuer URL")
	aud := fs.String("audience", "", "expected audience (the client ID)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *issuer == "" || *aud == "" || fs.NArg() != 1 {
		return usagef("need --issuer, --audience and one ID token")
	}
	p, err := oidc.NewProvider(ctx, *issuer)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: *aud}).Verify(ctx, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("ID token rejected: %w", err)
	}
	var claims map[string]interface{}
	if err := tok.Claims(&claims); err != nil {
		return err
	}
	out, _ := json.MarshalIndent(claims, "", "  ")
	fmt.Fprintf(env.stdout, "ID token verified (signature, issuer, audience, expiry). Claims:\n%s\n", out)
	return nil
}
