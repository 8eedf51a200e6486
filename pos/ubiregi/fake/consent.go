package fake

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// The consent page (Options.Consent) is what an owner sees at Ubiregi
// between regicam's 連携 button and the callback: which app asks for
// which account, and 許可する / 拒否する. Each button sends the browser
// back to /oauth2/authorize with the same query and decision=allow or
// decision=deny, so the grant itself stays in authorize.

// decisionParam carries the owner's answer; the other parameters are the
// authorize request's own.
const decisionParam = "decision"

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>アプリ連携の許可 - ユビレジ (fake)</title>
<link rel="icon" href="data:,">
<style>
body { font-family: sans-serif; background: #f4f6f8; margin: 0; }
main { max-width: 28rem; margin: 4rem auto; background: #fff; border-radius: 8px; padding: 2rem; box-shadow: 0 1px 4px #0002; }
h1 { font-size: 1.3rem; margin-top: 0; }
.account { font-weight: bold; }
.actions { display: flex; gap: 1rem; margin-top: 2rem; }
button { font-size: 1rem; padding: .6rem 1.4rem; border-radius: 4px; border: 1px solid #888; background: #fff; }
button[value=allow] { background: #e8541e; color: #fff; border-color: #e8541e; }
.note { color: #666; font-size: .85rem; }
</style>
</head>
<body>
<main>
<h1>アプリ連携の許可</h1>
<p>アプリ <code>{{.ClientID}}</code> が、ユビレジのアカウント <span class="account" data-testid="ubiregi-account">{{.AccountName}} ({{.AccountID}})</span> の会計データの読み取りを求めています。</p>
<form method="get" action="/oauth2/authorize">
{{range .Params}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<div class="actions">
<button type="submit" name="decision" value="allow">許可する</button>
<button type="submit" name="decision" value="deny">拒否する</button>
</div>
</form>
<p class="note">これはテストとデモ用のユビレジの代役 (regicam pos/ubiregi/fake) です。</p>
</main>
</body>
</html>
`))

type consentParam struct{ Name, Value string }

// consent reads the owner's decision from the request; without one it
// writes the consent page and reports decided = false (the request is
// answered). Client and redirect URI are checked before, by authorize.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) (refused, decided bool) {
	q := r.URL.Query()
	switch q.Get(decisionParam) {
	case "allow":
		return false, true
	case "deny":
		return true, true
	}
	var params []consentParam
	for name, vs := range q {
		if name == decisionParam {
			continue
		}
		for _, v := range vs {
			params = append(params, consentParam{name, v})
		}
	}
	slices.SortFunc(params, func(a, b consentParam) int { return strings.Compare(a.Name, b.Name) })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page must not be framed: a consent click is what clickjacking
	// would steal.
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
	_ = consentTmpl.Execute(w, map[string]any{
		"ClientID": s.opts.ClientID, "AccountName": s.opts.AccountName, "AccountID": s.opts.AccountID, "Params": params,
	})
	return false, false
}

// ContinueAfter makes the next checkout id greater than id. The fake keeps
// nothing across restarts but regicam's journal does: the demo goes on
// numbering after the checkouts it has already ingested, or its next
// checkout would be taken for an edit of the previous run's.
func (s *Server) ContinueAfter(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID = max(s.nextID, id)
}
