package digest

import (
	"testing"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/pulid"
)

// One account with many due mails (or a mail server of its that hangs)
// does not fill a pass: others' mails go in the same pass, oldest first.
func TestFairShareKeepsOtherAccountsMoving(t *testing.T) {
	var due []*ent.DigestSend
	for range 30 {
		due = append(due, &ent.DigestSend{AccountID: "AC-busy"})
	}
	due = append(due, &ent.DigestSend{AccountID: "AC-a"}, &ent.DigestSend{AccountID: "AC-b"}, &ent.DigestSend{AccountID: "AC-a"}, &ent.DigestSend{AccountID: "AC-a"})
	got := fairShare(due, 10, 2)
	count := map[pulid.ID]int{}
	for _, d := range got {
		count[d.AccountID]++
	}
	if count["AC-busy"] != 2 || count["AC-a"] != 2 || count["AC-b"] != 1 || len(got) != 5 {
		t.Errorf("pass holds %v (%d rows), want busy 2, a 2, b 1", count, len(got))
	}
	if got[0].AccountID != "AC-busy" {
		t.Errorf("oldest first: got %s first", got[0].AccountID)
	}
}
