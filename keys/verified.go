package keys

import (
	"crypto"
	"crypto/sha256"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// verifiedCache remembers tokens this process has verified, so that a
// resource server introspecting the same access token on every call pays
// for its signature once (an ES256 verification is most of an
// introspection's CPU; RS256 and EdDSA are cheaper but not free).
//
// An entry is keyed by the SHA-256 of the whole compact JWS, so a hit is a
// token byte for byte identical to one whose signature checked out. It
// keeps the public key that verified it, and a hit is only answered while
// the token's kid still names that same key, with the token's algorithm, in
// the current snapshot: a revoked or removed key fails the token at once,
// as a fresh verification would. Failures are never cached. Claims (exp,
// typ, iss...) are the caller's to check on every call, cached or not.
//
// The set is bounded: when full, an arbitrary entry makes room (Go's map
// iteration starts at a random place). At maxVerified entries of about a
// kilobyte, it holds a few megabytes at most.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedToken
}

// maxVerified bounds the cache: enough for the tokens a busy set of
// resource servers introspects within their lifetime.
const maxVerified = 4096

type verifiedToken struct {
	payload []byte
	header  jose.Header
	key     crypto.PublicKey // the key that verified it
}

func (c *verifiedCache) get(sum [sha256.Size]byte) (verifiedToken, bool) {
	c.mu.Lock()
	v, ok := c.entries[sum]
	c.mu.Unlock()
	return v, ok
}

func (c *verifiedCache) put(sum [sha256.Size]byte, v verifiedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[[sha256.Size]byte]verifiedToken)
	}
	if len(c.entries) >= maxVerified {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[sum] = v
}

func (c *verifiedCache) drop(sum [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.entries, sum)
	c.mu.Unlock()
}
