package main

import (
	"encoding/json"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
)

// newVerifyCmd verifies an ID token the way a relying party does: discovery,
// JWKS, signature, issuer, audience and expiry, through go-oidc.
func newVerifyCmd(env *cliEnv) *cobra.Command {
	var issuer, aud string
	c := &cobra.Command{
		Use:   "verify ID_TOKEN",
		Short: "Verify an ID token through discovery and JWKS (as a relying party)",
		Long: `Verify an ID token the way a relying party does, with go-oidc: discovery,
JWKS, signature, issuer, audience and expiry. Prints the claims.`,
		Example: `  wxoidc verify --issuer http://127.0.0.1:8080 --audience demo-miniprogram "$IDT"`,
		Args: func(_ *cobra.Command, args []string) error {
			if issuer == "" || aud == "" || len(args) != 1 {
				return usagef("need --issuer, --audience and one ID token")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				return fmt.Errorf("discovery: %w", err)
			}
			tok, err := p.Verifier(&oidc.Config{ClientID: aud}).Verify(ctx, args[0])
			if err != nil {
				return fmt.Errorf("ID token rejected: %w", err)
			}
			var claims map[string]any
			if err := tok.Claims(&claims); err != nil {
				return err
			}
			out, _ := json.MarshalIndent(claims, "", "  ")
			fmt.Fprintf(env.stdout, "ID token verified (signature, issuer, audience, expiry). Claims:\n%s\n", out)
			return nil
		},
	}
	c.Flags().StringVar(&issuer, "issuer", "", "issuer URL")
	c.Flags().StringVar(&aud, "audience", "", "expected audience (the client ID)")
	return c
}
