package digest_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/regicam/regicam/digest"
)

// TestComposeInlineImages: the HTML names each thumbnail by cid, each is a
// part with that Content-ID, at most MaxImages, none over MaxImageBytes;
// the Japanese subject decodes back.
func TestComposeInlineImages(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	d := digest.Digest{ShopName: "渋谷店", Day: "2026-12-02", PublicURL: "https://regicam.example/",
		Figures: digest.Figures{Sales: 123456, Refunds: 2000, Net: 121456, Count: 42}}
	for i := range 25 {
		img := bytes.Repeat([]byte{0xff, 0xd8, byte(i)}, 100)
		if i == 3 {
			img = make([]byte, digest.MaxImageBytes+1) // too large: listed without its picture
		}
		d.Alerts = append(d.Alerts, digest.AlertItem{ID: "AL" + string(rune('A'+i)), At: time.Date(2026, 12, 2, 12, i, 0, 0, jst),
			Message: "高額キャンセル", Amount: 5000, Image: img})
	}
	d.Cases = []digest.CaseItem{{ID: "CS01", Title: "レジ2の返金", Status: "OPEN"}}
	raw, err := digest.Compose(d, digest.Envelope{From: &mail.Address{Name: "本部", Address: "hq@example.jp"},
		To: &mail.Address{Address: "tencho@example.jp"}, MessageID: "digest.DS01@example.jp", Date: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := r.Header.Subject()
	if err != nil || subj != "【regicam】渋谷店 2026-12-02 の日次レポート" {
		t.Errorf("subject %q, %v", subj, err)
	}
	if raw := r.Header.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?") {
		t.Errorf("subject not RFC 2047 encoded: %q", raw)
	}
	html, images := "", map[string]int{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct := p.Header.Get("Content-Type")
		body, _ := io.ReadAll(p.Body)
		switch {
		case strings.HasPrefix(ct, "text/html"):
			html = string(body)
		case strings.HasPrefix(ct, "image/jpeg"):
			images[strings.Trim(p.Header.Get("Content-Id"), "<>")] = len(body)
		}
	}
	if len(images) != digest.MaxImages {
		t.Errorf("%d inline images, want %d", len(images), digest.MaxImages)
	}
	for cid, n := range images {
		if !strings.Contains(html, `src="cid:`+cid+`"`) {
			t.Errorf("image %s not referenced by the HTML", cid)
		}
		if n > digest.MaxImageBytes {
			t.Errorf("image %s has %d bytes", cid, n)
		}
	}
	if strings.Count(html, `src="cid:`) != digest.MaxImages {
		t.Errorf("HTML references %d images", strings.Count(html, `src="cid:`))
	}
	for _, want := range []string{"¥123,456", "¥2,000", "¥121,456", "42", "https://regicam.example/#/alerts/ALA", "https://regicam.example/#/cases/CS01", "レジ2の返金"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// The outer structure: related around alternative.
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if mt, _, _ := e.Header.ContentType(); mt != "multipart/related" {
		t.Errorf("top-level %s", mt)
	}
}
