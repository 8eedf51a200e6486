package server

import (
	"strings"
	"testing"
	"time"
)

// TestEvidenceSlots: a credential builds at most two bundles at once; a
// third is refused until one ends, and other credentials are not held up.
func TestEvidenceSlots(t *testing.T) {
	s := &credentialSlots{max: EvidenceDownloadsPerCredential, running: map[string]int{}}
	r1, ok1 := s.take("user:a")
	r2, ok2 := s.take("user:a")
	if !ok1 || !ok2 {
		t.Fatal("the first two downloads of a credential are refused")
	}
	if _, ok := s.take("user:a"); ok {
		t.Fatal("a third download at once is allowed")
	}
	if r, ok := s.take("key:b"); !ok {
		t.Fatal("another credential is refused")
	} else {
		r()
	}
	r1()
	r1() // a second release of one download frees nothing more
	r3, ok := s.take("user:a")
	if !ok {
		t.Fatal("refused after a download ended")
	}
	if _, ok := s.take("user:a"); ok {
		t.Fatal("a double release freed two slots")
	}
	r2()
	r3()
	if len(s.running) != 0 {
		t.Errorf("idle credentials kept: %v", s.running)
	}
}

// TestEvidenceDisposition: the ASCII name every client takes, and the
// title for those that read filename*, with nothing that ends the
// parameter or names a folder.
func TestEvidenceDisposition(t *testing.T) {
	at := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	got := evidenceDisposition(`レジ2; "取消"/確認`+"\n", "CS01ABC", at)
	want := `attachment; filename="evidence-CS01ABC-20261203-110000.zip"; filename*=UTF-8''` +
		"%E8%A8%BC%E6%8B%A0_%E3%83%AC%E3%82%B82%3B%20_%E5%8F%96%E6%B6%88__%E7%A2%BA%E8%AA%8D__20261203-110000.zip"
	if got != want {
		t.Errorf("Content-Disposition\n got %s\nwant %s", got, want)
	}
	// 1 + 3×100 bytes, cut at 120: 39 whole characters, none split.
	long := evidenceDisposition("a"+strings.Repeat("あ", 100), "CS01ABC", at)
	if n := strings.Count(long, "%E3%81%82"); n != 39 || !strings.HasSuffix(long, "%E3%81%82_20261203-110000.zip") {
		t.Errorf("a long title cut to %d characters: %s", n, long)
	}
}
