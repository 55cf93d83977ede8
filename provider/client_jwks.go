package provider

// This is the one file of provider that imports go-jose v3: fosite v0.49.0
// exposes v3 types for private_key_jwt client keys (ory/fosite#797).

import (
	"encoding/json"

	jose3 "github.com/go-jose/go-jose/v3"

	"github.com/wxoidc/wxoidc/keys"
)

// GetJSONWebKeys returns the client's registered public keys for
// private_key_jwt, or nil when it has none or they do not parse.
func (c *fositeClient) GetJSONWebKeys() *jose3.JSONWebKeySet {
	if len(c.JWKS) == 0 {
		return nil
	}
	var set jose3.JSONWebKeySet
	if err := json.Unmarshal(c.JWKS, &set); err != nil {
		return nil
	}
	return &set
}

// GetTokenEndpointAuthSigningAlgorithm is the algorithm fosite requires of
// the client's assertions: the `alg` of its first registered key (RS256 when
// the key names none).
func (c *fositeClient) GetTokenEndpointAuthSigningAlgorithm() string {
	if set := c.GetJSONWebKeys(); set != nil {
		for _, k := range set.Keys {
			if k.Algorithm != "" {
				return k.Algorithm
			}
		}
	}
	return keys.RS256
}

// ValidateClientJWKS checks that raw is a JWK set of public signing keys.
func ValidateClientJWKS(raw []byte) error {
	var set jose3.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return errInvalidJWKS("not a JWK set")
	}
	if len(set.Keys) == 0 {
		return errInvalidJWKS("no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return errInvalidJWKS("contains private key material")
		}
		if !k.Valid() {
			return errInvalidJWKS("invalid key")
		}
	}
	return nil
}
