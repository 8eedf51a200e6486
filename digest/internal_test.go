package digest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

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

// With DenyPrivate a mail server on loopback is never dialled.
func TestSendDenyPrivate(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	err = Send(context.Background(), Server{Host: "127.0.0.1", Port: port, Security: "STARTTLS", DenyPrivate: true, Timeout: 5 * time.Second},
		"a@example.jp", "b@example.jp", []byte("Subject: x\r\n\r\nx"))
	var se *SendError
	if !errors.As(err, &se) || se.Step != StepConnect {
		t.Fatalf("send to loopback with DenyPrivate: %v", err)
	}
	select {
	case <-accepted:
		t.Error("the loopback server was dialled")
	case <-time.After(100 * time.Millisecond):
	}
}
