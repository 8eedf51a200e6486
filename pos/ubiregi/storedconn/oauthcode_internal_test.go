package storedconn

import (
	"strings"
	"testing"
)

func TestOAuthCodeKeepsCodesAndClipsTheRest(t *testing.T) {
	if got := oauthCode("access_denied"); got != "access_denied" {
		t.Errorf("a real code changed: %q", got)
	}
	got := oauthCode("x\nlevel=ERROR msg=forged " + strings.Repeat("A", 500))
	if len(got) != 64 || strings.ContainsAny(got, "\n= ") {
		t.Errorf("a crafted value reaches the log as %q", got)
	}
}
