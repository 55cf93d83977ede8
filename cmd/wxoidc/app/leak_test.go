package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/config"
)

// TestDatabaseHoldsNoPlaintextSecrets runs every flow, then reads the SQLite
// files byte by byte (database, WAL and shared memory, while open and after
// the last checkpoint) for the secrets the flows used, the signing keys'
// private material and the KEK, in raw, hex and base64 forms.
func TestDatabaseHoldsNoPlaintextSecrets(t *testing.T) {
	s := newHardStack(t, hardOptions{config: []stackOption{func(c *config.Config) { c.Storage.SQLiteSynchronous = "FULL" }}})
	sec := runEveryFlow(t, s)
	ctx := context.Background()

	rows, err := s.App.Store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no signing keys stored")
	}
	for _, row := range rows {
		der, err := s.App.Cipher.Open(row.PrivateKeyEncrypted, []byte("wxoidc/signing-key/"+row.KID))
		if err != nil {
			t.Fatalf("key %s does not open: %v", row.KID, err)
		}
		name := "private key " + row.Algorithm
		sec.addBytes(name+" PKCS#8", der)
		sec.add(name+" PEM", strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))))
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		switch k := priv.(type) {
		case *rsa.PrivateKey:
			sec.addBytes(name+" D", k.D.Bytes())
			sec.addBytes(name+" P", k.Primes[0].Bytes())
		case *ecdsa.PrivateKey:
			d, err := k.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			sec.addBytes(name+" D", d)
		case ed25519.PrivateKey:
			sec.addBytes(name+" seed", k.Seed())
		default:
			t.Fatalf("unexpected key type %T", priv)
		}
	}

	path := strings.TrimPrefix(s.App.Config.Storage.DSN, "sqlite://")
	scan := func(when string) int {
		total := 0
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			data, err := os.ReadFile(path + suffix)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			total += len(data)
			if found := sec.find(data); len(found) > 0 {
				t.Errorf("%s: %s holds in plaintext: %v", when, "wxoidc.db"+suffix, found)
			}
		}
		return total
	}
	open := scan("while open")
	// Closing checkpoints the WAL into the main file.
	if err := s.App.Close(); err != nil {
		t.Fatal(err)
	}
	closed := scan("after close")
	if open == 0 || closed == 0 {
		t.Fatalf("scanned %d and %d bytes: where is the database?", open, closed)
	}
	// A positive control: the database does hold what is not secret, so the
	// scan reads the right files.
	if found := newNeedles(s.Emu.OpenID(appA, "lucy")).in(path); !found {
		t.Error("the openid of a logged-in user is not in the database: the scan reads the wrong files")
	}
	t.Logf("%d secret forms, none in %d bytes (open) and %d bytes (closed)", len(sec.values), open, closed)
}

// needles finds plain values in the database files (positive control).
type needles []string

func newNeedles(v ...string) needles { return v }

func (n needles) in(path string) bool {
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + suffix)
		if err != nil {
			continue
		}
		for _, v := range n {
			if strings.Contains(string(data), v) {
				return true
			}
		}
	}
	return false
}
