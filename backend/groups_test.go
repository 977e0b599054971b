package backend

import (
	"fmt"
	"testing"
)

// TestGroupOrderWhenForgottenMidPass: a group whose owner has no credit
// is forgotten (MaxGroups) while the dispatcher is past one of its
// waiting messages; the group's later message must not overtake it.
func TestGroupOrderWhenForgottenMidPass(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1, MaxGroups: 2})
	defer b.Close()
	a, ac := sub(t, b, SubscribeOptions{Dest: q("g"), Credit: 2})
	bs, bc := sub(t, b, SubscribeOptions{Dest: q("g"), Credit: 0})
	grouped := func(g, body string) {
		pubMsg(t, b, &Message{Dest: q("g"), Body: []byte(body), GroupID: g})
	}
	grouped("G", "G0") // A owns G ...
	if err := a.Settle(ac.next(t).Tag, Accepted); err != nil {
		t.Fatal(err)
	}
	grouped("H", "H0") // ... and H, which stays in flight; A has no credit left
	ac.next(t)
	grouped("G", "G1") // waits for A
	grouped("K", "K0") // a new group: the table is full, G (idle) is forgotten
	grouped("G", "G2")
	bs.AddCredit(5)
	var got []string
	for len(bc) > 0 {
		got = append(got, string((<-bc).Msg.Body))
	}
	bs.AddCredit(0) // another dispatch pass
	for len(bc) > 0 {
		got = append(got, string((<-bc).Msg.Body))
	}
	if fmt.Sprint(got) != "[K0 G1 G2]" {
		t.Fatalf("B got %v, want [K0 G1 G2]: G2 must not overtake G1", got)
	}
}
