package digest

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// The bounds of one digest mail: a shop with a bad day must not produce a
// message mail servers refuse (most cap messages at 10–25 MB).
const (
	MaxImages     = 20         // inline thumbnails per message
	MaxImageBytes = 200 * 1024 // a larger thumbnail is listed without its picture
	maxListed     = 100        // exceptions listed; the rest are counted
	maxCases      = 50         // open cases listed
)

// Figures are the day's totals (reports.Row, summed by package reports).
type Figures struct {
	Sales, Refunds, Net, Count int64
}

// AlertItem is one exception of the day.
type AlertItem struct {
	ID        string
	At        time.Time // in the shop's zone
	Message   string
	StaffName string
	Amount    int64
	// Image is the receipt's thumbnail (JPEG), nil when it has none or it
	// is too large to carry.
	Image []byte
}

// CaseItem is one open case of the shop.
type CaseItem struct {
	ID, Title, Status string
}

// Digest is what one mail says.
type Digest struct {
	ShopName  string
	Day       string // YYYY-MM-DD, the shop's local date
	Figures   Figures
	Alerts    []AlertItem
	MoreAlert int // exceptions not listed
	Cases     []CaseItem
	MoreCases int
	// PublicURL is the dashboard's address; links are built on it.
	PublicURL string
}

// Envelope is who a message is from and to, and its identity.
type Envelope struct {
	From      *mail.Address
	To        *mail.Address
	MessageID string // without angle brackets
	Date      time.Time
}

// Subject is the digest's subject line.
func (d Digest) Subject() string {
	return fmt.Sprintf("【regicam】%s %s の日次レポート", d.ShopName, d.Day)
}

// AlertURL links an exception in the dashboard.
func (d Digest) AlertURL(id string) string { return d.link("alerts", id) }

// CaseURL links a case in the dashboard.
func (d Digest) CaseURL(id string) string { return d.link("cases", id) }

func (d Digest) link(kind, id string) string {
	return strings.TrimRight(d.PublicURL, "/") + "/#/" + kind + "/" + id
}

// ContentID is the cid of the i-th listed exception's thumbnail.
func ContentID(messageID string, i int) string {
	return fmt.Sprintf("thumb%d.%s", i, messageID)
}

var caseStatus = map[string]string{"OPEN": "未着手", "INVESTIGATING": "調査中", "CLOSED": "完了"}

func yen(v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := fmt.Sprint(v)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-¥" + b.String()
	}
	return "¥" + b.String()
}

var funcs = map[string]any{
	"yen":    yen,
	"status": func(s string) string { return caseStatus[s] },
	"hhmm":   func(t time.Time) string { return t.Format("15:04") },
}

var textBody = template.Must(template.New("text").Funcs(funcs).Parse(`{{.D.ShopName}} {{.D.Day}} の日次レポート

売上額: {{yen .D.Figures.Sales}}
返金額: {{yen .D.Figures.Refunds}}
差引額: {{yen .D.Figures.Net}}
件数: {{.D.Figures.Count}}

例外 ({{len .D.Alerts}}{{if .D.MoreAlert}} ほか {{.D.MoreAlert}} 件{{end}})
{{range .D.Alerts}}- {{hhmm .At}} {{.Message}}{{if .StaffName}} / {{.StaffName}}{{end}} {{yen .Amount}}
  {{$.D.AlertURL .ID}}
{{else}}この日の例外はありません。
{{end}}
未完了の案件 ({{len .D.Cases}}{{if .D.MoreCases}} ほか {{.D.MoreCases}} 件{{end}})
{{range .D.Cases}}- [{{status .Status}}] {{.Title}}
  {{$.D.CaseURL .ID}}
{{else}}未完了の案件はありません。
{{end}}
-- 
regicam の設定で送っている日次レポートです。
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>{{.D.Subject}}</title></head>
<body style="font-family:sans-serif;color:#1f2933">
<h1 style="font-size:18px">{{.D.ShopName}} {{.D.Day}} の日次レポート</h1>
<table style="border-collapse:collapse" cellpadding="6">
<tr><th align="left">売上額</th><td align="right">{{yen .D.Figures.Sales}}</td></tr>
<tr><th align="left">返金額</th><td align="right">{{yen .D.Figures.Refunds}}</td></tr>
<tr><th align="left">差引額</th><td align="right">{{yen .D.Figures.Net}}</td></tr>
<tr><th align="left">件数</th><td align="right">{{.D.Figures.Count}}</td></tr>
</table>
<h2 style="font-size:16px">例外 ({{len .D.Alerts}}{{if .D.MoreAlert}} ほか {{.D.MoreAlert}} 件{{end}})</h2>
{{if .D.Alerts}}<table style="border-collapse:collapse" cellpadding="6">
{{range $i, $a := .D.Alerts}}<tr>
<td>{{with index $.CIDs $i}}<img src="cid:{{.}}" width="160" alt="レシートの写真">{{end}}</td>
<td>{{hhmm $a.At}}<br><a href="{{$.D.AlertURL $a.ID}}">{{$a.Message}}</a>{{if $a.StaffName}}<br>{{$a.StaffName}}{{end}}<br>{{yen $a.Amount}}</td>
</tr>
{{end}}</table>{{else}}<p>この日の例外はありません。</p>{{end}}
<h2 style="font-size:16px">未完了の案件 ({{len .D.Cases}}{{if .D.MoreCases}} ほか {{.D.MoreCases}} 件{{end}})</h2>
{{if .D.Cases}}<ul>
{{range .D.Cases}}<li>[{{status .Status}}] <a href="{{$.D.CaseURL .ID}}">{{.Title}}</a></li>
{{end}}</ul>{{else}}<p>未完了の案件はありません。</p>{{end}}
<p style="color:#56606e;font-size:12px">regicam の設定で送っている日次レポートです。</p>
</body></html>
`))

// Compose writes the digest as one MIME message: multipart/related around
// a multipart/alternative (plain text and HTML) and the thumbnails the
// HTML names by Content-ID.
func Compose(d Digest, env Envelope) ([]byte, error) {
	if len(d.Alerts) > maxListed {
		d.MoreAlert += len(d.Alerts) - maxListed
		d.Alerts = d.Alerts[:maxListed]
	}
	if len(d.Cases) > maxCases {
		d.MoreCases += len(d.Cases) - maxCases
		d.Cases = d.Cases[:maxCases]
	}
	cids := make([]string, len(d.Alerts))
	images := 0
	for i, a := range d.Alerts {
		if len(a.Image) > 0 && len(a.Image) <= MaxImageBytes && images < MaxImages {
			cids[i] = ContentID(env.MessageID, i)
			images++
		}
	}
	data := struct {
		D    Digest
		CIDs []string
	}{d, cids}
	var text, html bytes.Buffer
	if err := textBody.Execute(&text, data); err != nil {
		return nil, err
	}
	if err := htmlBody.Execute(&html, data); err != nil {
		return nil, err
	}
	var parts []part
	for i, a := range d.Alerts {
		if cids[i] != "" {
			parts = append(parts, part{cid: cids[i], body: a.Image})
		}
	}
	return write(env, d.Subject(), text.Bytes(), html.Bytes(), parts)
}

// TestMessage is the one message testMailSettings sends.
func TestMessage(env Envelope) ([]byte, error) {
	text := "regicam からのテストメールです。このメールが届いていれば、日次レポートを送れます。\n"
	html := "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"></head><body><p>" + text + "</p></body></html>\n"
	return write(env, "【regicam】テストメール", []byte(text), []byte(html), nil)
}

type part struct {
	cid  string
	body []byte
}

func write(env Envelope, subject string, text, html []byte, images []part) ([]byte, error) {
	var h mail.Header
	h.SetDate(env.Date)
	h.SetAddressList("From", []*mail.Address{env.From})
	h.SetAddressList("To", []*mail.Address{env.To})
	h.SetSubject(subject) // RFC 2047 encoded words
	h.SetMessageID(env.MessageID)
	h.Set("Auto-Submitted", "auto-generated")
	h.SetContentType("multipart/related", map[string]string{"type": "multipart/alternative"})
	var buf bytes.Buffer
	root, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, err
	}
	var ah message.Header
	ah.SetContentType("multipart/alternative", nil)
	alt, err := root.CreatePart(ah)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		typ  string
		body []byte
	}{{"text/plain", text}, {"text/html", html}} {
		var ph message.Header
		ph.SetContentType(p.typ, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "base64")
		w, err := alt.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(p.body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if err := alt.Close(); err != nil {
		return nil, err
	}
	for i, img := range images {
		var ph message.Header
		ph.SetContentType("image/jpeg", nil)
		ph.Set("Content-Transfer-Encoding", "base64")
		ph.Set("Content-ID", "<"+img.cid+">")
		ph.SetContentDisposition("inline", map[string]string{"filename": fmt.Sprintf("receipt-%d.jpg", i+1)})
		w, err := root.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(img.body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if err := root.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
