package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const examplePath = "../config.example.yaml"

// loadExample loads config.example.yaml with its secret files redirected to
// a temp dir and the variables its secrets name set in environ.
func loadExample(t *testing.T) *Config {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"wxoidc-kek":         testKEK + "\n",
		"wxoidc-admin-token": testAdminToken + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data = []byte(strings.ReplaceAll(string(data), "/run/secrets/", dir+"/"))
	c, err := load(data, examplePath, []string{"WXOIDC_APP_SECRET_WX1234567890ABCDEF=app-secret"})
	if err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
	return c
}

// TestExampleMatchesDefaults keeps config.example.yaml from drifting: apart
// from the keys it marks REQUIRED, every value it shows is the default.
func TestExampleMatchesDefaults(t *testing.T) {
	c := loadExample(t)
	want := Default()
	want.Issuer = "https://id.example.com"
	want.Admin.Tokens = []AdminToken{{Name: "ops", Token: c.Admin.Tokens[0].Token}}
	want.Secrets.KEK = c.Secrets.KEK
	want.WeChat.Apps = []WeChatApp{{AppID: "wx1234567890abcdef", Secret: EnvSecret("WXOIDC_APP_SECRET_WX1234567890ABCDEF"), Kind: WeChatKindMiniProgram}}
	want.Normalize()
	if !configsEqual(c, want) {
		gotY, _ := yaml.Marshal(c)
		wantY, _ := yaml.Marshal(want)
		t.Fatalf("config.example.yaml differs from the defaults:\n--- example\n%s\n--- defaults\n%s", gotY, wantY)
	}
	if !strings.HasPrefix(c.Secrets.KEK.Source(), "file ") || !strings.HasPrefix(c.Admin.Tokens[0].Token.Source(), "file ") {
		t.Errorf("example secrets should come from files: %v, %v", c.Secrets.KEK, c.Admin.Tokens[0].Token)
	}
}

// TestExampleDocumentsEveryKey checks that config.example.yaml shows every
// key of Config, each leaf with a comment.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	checkDocumented(t, reflect.TypeFor[Config](), doc.Content[0], "")
	for _, name := range []string{"WXOIDC_", "WXOIDC_TEST_"} {
		if !strings.Contains(doc.HeadComment+string(data[:400]), name) {
			t.Errorf("the header should explain %s variables", name)
		}
	}
}

func checkDocumented(t *testing.T, typ reflect.Type, n *yaml.Node, path string) {
	t.Helper()
	switch {
	case typ == secretType:
		if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
			t.Errorf("%s: the example should show one source, e.g. {file: PATH}", path)
		}
	case typ == durationType || typ.Kind() != reflect.Struct && typ.Kind() != reflect.Slice:
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
			t.Errorf("%s: the example should show one entry", path)
			return
		}
		checkDocumented(t, typ.Elem(), n.Content[0], path+"[0]")
	case typ.Kind() == reflect.Slice:
	default:
		keys := map[string][2]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys[n.Content[i].Value] = [2]*yaml.Node{n.Content[i], n.Content[i+1]}
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			key := strings.TrimPrefix(path+"."+name, ".")
			kv, ok := keys[name]
			if !ok {
				t.Errorf("config.example.yaml does not show %s", key)
				continue
			}
			isSection := f.Type.Kind() == reflect.Struct && f.Type != durationType && f.Type != secretType
			if !isSection && kv[0].HeadComment == "" && kv[0].LineComment == "" && kv[1].LineComment == "" {
				t.Errorf("config.example.yaml has no comment for %s", key)
			}
			checkDocumented(t, f.Type, kv[1], key)
		}
	}
}
