package storedconn_test

import (
	"testing"

	"github.com/regicam/regicam/pos/ubiregi/storedconn"
)

// TestLocalPath: where the OAuth callback may send the browser back to —
// never another site, however the path is dressed up.
func TestLocalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/links": true, "/links?tab=ubiregi#top": true, "/%2F%2Fevil.example": true,
		"": false, "links": false, "//evil.example": false, "///evil.example": false, "/\\evil.example": false,
		"/x\\..\\evil": false, "https://evil.example/": false, "/\t/evil.example": false, "/\n/evil.example": false,
		"javascript:alert(1)": false, " /links": false,
	} {
		if got := storedconn.LocalPath(p); got != want {
			t.Errorf("LocalPath(%q) = %v, want %v", p, got, want)
		}
	}
}
