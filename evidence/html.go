package evidence

import (
	"html/template"
	"io"
	"strconv"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/ingest"
)

// page is receipts.html: one self-contained page (its style inline, no
// script, nothing fetched) that opens from the unpacked folder; pictures
// are the bundle's own files, by relative path.
var page = template.Must(template.New("receipts").Parse(`<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self'; style-src 'unsafe-inline'">
<title>証拠一式: {{.Title}}</title>
<style>
body { font-family: system-ui, "Hiragino Sans", "Yu Gothic", sans-serif; margin: 1.5rem; color: #1a1a1a; line-height: 1.5; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
dl.head { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0 0 1.5rem; }
dl.head dt { color: #555; }
dl.head dd { margin: 0; }
article { border: 1px solid #ccc; border-radius: 6px; padding: 1rem; margin: 0 0 1rem; display: flex; gap: 1rem; flex-wrap: wrap; break-inside: avoid; }
article .pic { flex: 0 0 auto; }
article .pic img { max-width: 320px; width: 100%; height: auto; border: 1px solid #999; }
article .none { width: 240px; padding: 1rem; background: #f4f4f4; color: #444; }
table { border-collapse: collapse; }
th { text-align: left; color: #555; font-weight: normal; padding: .1rem 1rem .1rem 0; vertical-align: top; }
td { padding: .1rem 0; }
.total { font-weight: bold; }
ul.items { margin: 0; padding-left: 1.2rem; }
</style>
</head>
<body>
<h1>証拠一式: {{.Title}}</h1>
<dl class="head">
<dt>ケース ID</dt><dd>{{.ID}}</dd>
<dt>状態</dt><dd>{{.Status}}</dd>
<dt>取引</dt><dd>{{len .Receipts}} 件 (新しい順)</dd>
<dt>ダウンロードした人</dt><dd>{{.Who}}</dd>
<dt>ダウンロード日時</dt><dd>{{.At}}</dd>
</dl>
{{range .Receipts}}<article id="{{.ID}}">
<div class="pic">{{if .Picture}}<img src="{{.Picture}}" alt="レシート {{.ReceiptNo}} の時刻のカメラ画像">{{else}}<div class="none">写真なし{{if .NoPicture}}: {{.NoPicture}}{{end}}</div>{{end}}</div>
<table>
<tr><th>日時</th><td>{{.Time}}</td></tr>
<tr><th>種別</th><td>{{.Kind}}</td></tr>
<tr><th>店舗</th><td>{{.Shop}}</td></tr>
<tr><th>レジ</th><td>{{.Register}}</td></tr>
<tr><th>レシートNo</th><td>{{.ReceiptNo}}</td></tr>
<tr><th>担当</th><td>{{.Staff}}</td></tr>
<tr><th>合計</th><td class="total">{{.Total}}</td></tr>
<tr><th>支払い方法</th><td>{{.Payment}}</td></tr>
<tr><th>商品</th><td>{{if .Items}}<ul class="items">{{range .Items}}<li>{{.}}</li>{{end}}</ul>{{else}}なし{{end}}</td></tr>
<tr><th>動画</th><td>{{.Clip}}</td></tr>
<tr><th>取引 ID</th><td>{{.ID}}</td></tr>
</table>
</article>
{{else}}<p>このケースに取引はありません。</p>
{{end}}</body>
</html>
`))

type pageData struct {
	Title, ID, Status, Who, At string
	Receipts                   []receiptView
}

type receiptView struct {
	ID, Time, Kind, Shop, Register, ReceiptNo, Staff, Total, Payment string
	Items                                                            []string
	Picture, NoPicture, Clip                                         string
}

var statusJa = map[investigation.Status]string{
	investigation.StatusOPEN: "未着手", investigation.StatusINVESTIGATING: "調査中", investigation.StatusCLOSED: "完了",
}

// html writes receipts.html for the receipts as the manifest m lists them.
func (b *Bundle) html(w io.Writer, m *Manifest, who Downloader) error {
	d := pageData{Title: b.Case.Title, ID: string(b.Case.ID), Status: statusJa[b.Case.Status],
		Who: who.Name, At: who.At.In(tokyo).Format("2006/01/02 15:04:05 (日本時間)")}
	if who.Kind == "API_KEY" {
		d.Who = "API キー「" + who.Name + "」"
	}
	for i, e := range b.Entries {
		d.Receipts = append(d.Receipts, b.view(e, m.Entries[i]))
	}
	return page.Execute(w, d)
}

func (b *Bundle) view(e *ent.JournalEntry, info EntryInfo) receiptView {
	loc := tokyo
	shopName := ""
	if s := b.shops[e.ShopID]; s != nil {
		shopName = s.Name
		if l, err := time.LoadLocation(s.Timezone); err == nil && s.Timezone != "" {
			loc = l
		}
	}
	reg := e.RegisterNo
	if t := b.terms[e.TerminalID]; t != nil && t.Name != "" {
		reg = t.Name
		if e.RegisterNo != "" {
			reg += " (レジNo " + e.RegisterNo + ")"
		}
	}
	v := receiptView{ID: string(e.ID), Time: e.OccurredAt.In(loc).Format("2006/01/02 15:04:05"),
		Kind: export.KindLabel(e.Kind), Shop: shopName, Register: reg, ReceiptNo: e.ReceiptNo,
		Staff: e.StaffName, Total: yen(e.Total), Payment: e.PaymentMethod, Clip: "録画された動画はありません"}
	for _, it := range e.Items {
		v.Items = append(v.Items, it.Name+" ×"+strconv.Itoa(int(it.Quantity))+" "+yen(it.Amount))
	}
	switch {
	case info.Clip.Status == ClipIncluded:
		v.Clip = info.Clip.File
	case info.Clip.Reason != "":
		v.Clip += ": " + info.Clip.Reason
	}
	if info.Picture.Status == PictureIncluded {
		v.Picture = info.Picture.File
	} else {
		v.NoPicture = ingest.ReasonText(info.Picture.Reason)
	}
	return v
}

// yen is ¥1,234 (negative amounts keep their sign).
func yen(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-¥" + string(out)
	}
	return "¥" + string(out)
}

var tokyo = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return loc
}()
