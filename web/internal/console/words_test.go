package console

import (
	"io/fs"
	"regexp"
	"testing"
)

// Every word a template asks for by a literal key exists, in both
// languages: a missing one would show as "!key" on the page.
func TestTemplateWordsExist(t *testing.T) {
	literal := regexp.MustCompile(`\bT "([^"]+)"`)
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(names) == 0 {
		t.Fatalf("templates: %v %v", names, err)
	}
	asked := 0
	for _, name := range names {
		src, err := fs.ReadFile(templateFS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllSubmatch(src, -1) {
			asked++
			if _, ok := words[string(m[1])]; !ok {
				t.Errorf("%s asks for word %q, which is not defined", name, m[1])
			}
		}
	}
	if asked < 100 {
		t.Errorf("found only %d literal words in the templates: has the template syntax changed?", asked)
	}
	for k, p := range words {
		if p.en == "" || p.zh == "" {
			t.Errorf("word %q lacks a language: %+v", k, p)
		}
	}
}
