package main

import (
	"bytes"
	"encoding/json"
	"html/template"
	"log"
	"net/http"
	"sort"
	"time"
)

// homePage is "/": a sign-in link, or the signed-in person's claims.
type homePage struct {
	SignedIn bool
	Claims   []claimRow
	Error    string
}

type claimRow struct{ Name, Value string }

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>web-rp — Sign in with WeChat</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
a.button, button { background: #07c160; color: #fff; border: 0; border-radius: 4px; padding: .6rem 1.2rem; font-size: 1rem; text-decoration: none; cursor: pointer; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; font-family: ui-monospace, monospace; word-break: break-all; }
td:first-child { white-space: nowrap; width: 1%; }
.error { color: #b00020; }
</style>
</head>
<body>
<h1>web-rp</h1>
{{if .Error}}<p class="error">{{.Error}}</p>
<p><a href="/">Back</a></p>
{{else if .SignedIn}}<p>Signed in. The ID token says:</p>
<table>
{{range .Claims}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>
{{end}}</table>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
{{else}}<p>You are not signed in.</p>
<p><a class="button" href="/login">Sign in with WeChat</a></p>
{{end}}</body>
</html>
`))

func render(w http.ResponseWriter, status int, p homePage) {
	var buf bytes.Buffer
	if err := page.Execute(&buf, p); err != nil {
		log.Printf("web-rp: render: %v", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func failPage(w http.ResponseWriter, status int, msg string) {
	render(w, status, homePage{Error: msg})
}

// claimRows lists the claims sorted by name; auth_time, iat and exp also
// as UTC times.
func claimRows(claims map[string]any) []claimRow {
	rows := make([]claimRow, 0, len(claims))
	for name, v := range claims {
		var value string
		switch x := v.(type) {
		case string:
			value = x
		case float64:
			value = formatNumber(name, x)
		default:
			raw, _ := json.Marshal(x)
			value = string(raw)
		}
		rows = append(rows, claimRow{Name: name, Value: value})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func formatNumber(name string, x float64) string {
	raw, _ := json.Marshal(x)
	switch name {
	case "auth_time", "iat", "exp", "rat":
		return string(raw) + " (" + time.Unix(int64(x), 0).UTC().Format(time.RFC3339) + ")"
	}
	return string(raw)
}
