package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// Clients the standard set registers.
const (
	benchMiniClient = "bench-mp"
	// benchMiniRS256Client is benchMiniClient with RS256 ID tokens.
	benchMiniRS256Client = "bench-mp-rs256"
	benchCCClient        = "bench-cc"
	// benchImportedClient has a short, human-style secret: the hasher keeps
	// PBKDF2 for it, which the "cc, imported secret" line measures.
	benchImportedClient = "bench-cc-imported"
	benchImportedSecret = "imported-secret-1"
	// benchWebClient is the browser scenarios' relying party: confidential,
	// first-party (consent skipped), signing in with the website app.
	benchWebClient   = "bench-web"
	benchWebRedirect = "https://rp.bench.example/callback"
	// benchScanClient is scan-status's relying party: it signs in by the
	// mini-program code. A client of its own, so that bench-web's sign-in
	// chooser (login-page) keeps offering one way in.
	benchScanClient = "bench-web-scan"
)

// seededClients are the credentials the loader uses.
type seededClients struct {
	ccSecret  string
	webSecret string
}

// seedClients registers (or re-registers) the bench clients in the storage
// cfg names and returns the generated client secret. The mini-program
// client signs ID tokens with ES256, as the targets assume.
func seedClients(ctx context.Context, cfg *config.Config, appID, webAppID string) (seededClients, error) {
	store, err := app.OpenStorage(ctx, cfg.Storage, nil, true)
	if err != nil {
		return seededClients{}, fmt.Errorf("seed: open storage: %w", err)
	}
	defer store.Close()
	cipher, err := app.Cipher(cfg)
	if err != nil {
		return seededClients{}, fmt.Errorf("seed: %w", err)
	}
	hasher, err := app.SecretHasher(cfg, cipher)
	if err != nil {
		return seededClients{}, fmt.Errorf("seed: %w", err)
	}
	out := seededClients{ccSecret: provider.GenerateSecret(), webSecret: provider.GenerateSecret()}
	ccHash, err := hasher.Hash(ctx, []byte(out.ccSecret))
	if err != nil {
		return out, fmt.Errorf("seed: hash secret: %w", err)
	}
	webHash, err := hasher.Hash(ctx, []byte(out.webSecret))
	if err != nil {
		return out, fmt.Errorf("seed: hash secret: %w", err)
	}
	importedHash, err := hasher.Hash(ctx, []byte(benchImportedSecret))
	if err != nil {
		return out, fmt.Errorf("seed: hash secret: %w", err)
	}
	now := time.Now().UTC()
	mini := storage.Client{
		ID: benchMiniClient, Name: "bench mini-program",
		TokenEndpointAuthMethod:  provider.AuthMethodNone,
		WeChatAppID:              appID,
		GrantTypes:               []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken},
		Scopes:                   []string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeWeChat, provider.ScopeOfflineAccess},
		DefaultAudience:          cfg.Issuer,
		IDTokenSignedResponseAlg: "ES256",
	}
	miniRS256 := mini
	miniRS256.ID, miniRS256.Name, miniRS256.IDTokenSignedResponseAlg = benchMiniRS256Client, "bench mini-program (RS256 ID tokens)", "RS256"
	clients := []storage.Client{
		mini,
		miniRS256,
		{
			ID: benchCCClient, Name: "bench backend (generated secret)",
			SecretHash:              string(ccHash),
			TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes:              []string{provider.GrantTypeClientCredentials},
			Scopes:                  []string{},
			DefaultAudience:         cfg.Issuer,
		},
		{
			ID: benchImportedClient, Name: "bench backend (imported secret)",
			SecretHash:              string(importedHash),
			TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes:              []string{provider.GrantTypeClientCredentials},
			Scopes:                  []string{},
			DefaultAudience:         cfg.Issuer,
		},
		{
			ID: benchWebClient, Name: "bench web app (first party)",
			SecretHash:               string(webHash),
			TokenEndpointAuthMethod:  provider.AuthMethodClientSecretBasic,
			GrantTypes:               []string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
			Scopes:                   []string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeOfflineAccess},
			RedirectURIs:             []string{benchWebRedirect},
			SkipConsent:              true,
			WeChatApps:               []string{webAppID},
			DefaultAudience:          cfg.Issuer,
			IDTokenSignedResponseAlg: "ES256",
		},
		{
			// Public: scan-status never reaches the token endpoint.
			ID: benchScanClient, Name: "bench web app (mini-program scan)",
			TokenEndpointAuthMethod: provider.AuthMethodNone,
			GrantTypes:              []string{provider.GrantTypeAuthorizationCode},
			Scopes:                  []string{provider.ScopeOpenID},
			RedirectURIs:            []string{benchWebRedirect},
			WeChatApps:              []string{appID},
			DefaultAudience:         cfg.Issuer,
		},
	}
	for _, c := range clients {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := provider.ValidateClient(c); err != nil {
			return out, fmt.Errorf("seed: %w", err)
		}
		err := store.CreateClient(ctx, c)
		if errors.Is(err, storage.ErrAlreadyExists) {
			// A database reused across runs (PostgreSQL): take the new secret.
			_, err = store.UpdateClient(ctx, c.ID, func(old storage.Client) (storage.Client, error) {
				c.CreatedAt = old.CreatedAt
				return c, nil
			})
		}
		if err != nil {
			return out, fmt.Errorf("seed client %s: %w", c.ID, err)
		}
	}
	return out, nil
}

// prefillTokenSessions stores n token sessions shaped like the provider's
// (hashed signature, about 700 bytes of sealed session), in transactions of
// a few thousand rows, to measure how the database size affects the paths.
func prefillTokenSessions(ctx context.Context, cfg *config.Config, n int, progress func(done int)) error {
	if n <= 0 {
		return nil
	}
	store, err := app.OpenStorage(ctx, cfg.Storage, nil, true)
	if err != nil {
		return fmt.Errorf("prefill: open storage: %w", err)
	}
	defer store.Close()
	const batch = 5000
	blob := make([]byte, 700)
	now := time.Now()
	for done := 0; done < n; {
		txCtx, err := store.BeginTx(ctx)
		if err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
		end := min(n, done+batch)
		for i := done; i < end; i++ {
			var raw [32]byte
			_, _ = rand.Read(raw[:])
			sum := sha256.Sum256(raw[:])
			_, _ = rand.Read(blob)
			kind, exp := storage.KindAccessToken, now.Add(time.Hour)
			if i%2 == 1 {
				kind, exp = storage.KindRefreshToken, now.Add(30*24*time.Hour)
			}
			ts := storage.TokenSession{
				Kind:            kind,
				Signature:       base64.RawURLEncoding.EncodeToString(sum[:]),
				RequestID:       fmt.Sprintf("prefill-%d", i/2),
				RequestedAt:     now,
				ClientID:        benchMiniClient,
				Subject:         fmt.Sprintf("prefill-account-%d", i/2),
				RequestedScopes: []string{"openid", "phone", "offline_access"},
				GrantedScopes:   []string{"openid", "phone", "offline_access"},
				GrantedAudience: []string{cfg.Issuer},
				Form:            "client_id=bench-mp&grant_type=urn%3Awxoidc%3Aparams%3Aoauth%3Agrant-type%3Awechat-miniprogram&scope=openid+phone+offline_access",
				SessionData:     blob,
				Active:          true,
				ExpiresAt:       exp,
			}
			if err := store.CreateTokenSession(txCtx, ts); err != nil {
				_ = store.Rollback(txCtx)
				return fmt.Errorf("prefill: %w", err)
			}
		}
		if err := store.Commit(txCtx); err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
		done = end
		if progress != nil {
			progress(done)
		}
	}
	return nil
}

// seedPeople stores the accounts of the bench's WeChat users (bench-0 …
// bench-{n-1}) as their first sign-in would, with the emulator's openid and
// unionid for them, so that the grant scenarios measure returning people —
// most sign-ins — rather than first sign-ins (--new-people).
func seedPeople(ctx context.Context, cfg *config.Config, appID string, n int) error {
	store, err := app.OpenStorage(ctx, cfg.Storage, nil, true)
	if err != nil {
		return fmt.Errorf("seed people: open storage: %w", err)
	}
	defer store.Close()
	emu := newBenchEmulator(appID, "unused") // only derives the users' IDs
	now := time.Now()
	const batch = 2000
	for done := 0; done < n; {
		txCtx, err := store.BeginTx(ctx)
		if err != nil {
			return fmt.Errorf("seed people: %w", err)
		}
		end := min(n, done+batch)
		for i := done; i < end; i++ {
			user := benchUser(i)
			var id [16]byte
			_, _ = rand.Read(id[:])
			_, _, err := store.ResolveWeChatLogin(txCtx, storage.WeChatLogin{
				AppID: appID, OpenID: emu.OpenID(appID, user), UnionID: emu.UnionID(appID, user),
				NewAccountID: base64.RawURLEncoding.EncodeToString(id[:]), Now: now,
			})
			if err != nil {
				_ = store.Rollback(txCtx)
				return fmt.Errorf("seed people: %w", err)
			}
		}
		if err := store.Commit(txCtx); err != nil {
			return fmt.Errorf("seed people: %w", err)
		}
		done = end
	}
	return nil
}
