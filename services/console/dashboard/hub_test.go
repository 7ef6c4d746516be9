package dashboard

import (
	"fmt"
	"testing"
)

func TestHubSendsATenantsLeadsToItsSubscribersOnly(t *testing.T) {
	h := newHub(10, 4, nil)
	net := h.subscribe("net", "")
	msk := h.subscribe("net", "msk")
	other := h.subscribe("other", "")
	if n := h.publish("net", "spb", []byte("a")); n != 1 {
		t.Fatalf("net/spb reached %d subscribers, want 1 (the tenant-wide one)", n)
	}
	if n := h.publish("net", "msk", []byte("b")); n != 2 {
		t.Fatalf("net/msk reached %d subscribers, want 2", n)
	}
	if got := drain(net); fmt.Sprint(got) != "[a b]" {
		t.Errorf("tenant-wide subscriber got %v", got)
	}
	if got := drain(msk); fmt.Sprint(got) != "[b]" {
		t.Errorf("msk subscriber got %v", got)
	}
	if got := drain(other); len(got) != 0 {
		t.Errorf("another tenant's subscriber got %v", got)
	}
}

// A subscriber that stops reading is dropped when its buffer is full; the
// publisher never waits and the others keep getting every lead.
func TestHubDropsASlowSubscriber(t *testing.T) {
	var dropped []string
	h := newHub(10, 3, func(tenant string) { dropped = append(dropped, tenant) })
	slow := h.subscribe("net", "")
	fast := h.subscribe("net", "")
	var got []string
	for i := range 10 {
		h.publish("net", "msk", fmt.Appendf(nil, "%d", i))
		got = append(got, drain(fast)...)
	}
	if len(got) != 10 {
		t.Fatalf("the reading subscriber got %d of 10: %v", len(got), got)
	}
	if fmt.Sprint(dropped) != "[net]" || h.subscribers() != 1 {
		t.Fatalf("dropped %v, %d subscribers left", dropped, h.subscribers())
	}
	// The slow one has what fit in its buffer, then its channel is closed.
	var kept []string
	for m := range slow.ch {
		kept = append(kept, string(m))
	}
	if fmt.Sprint(kept) != "[0 1 2]" || !slow.dropped {
		t.Fatalf("slow subscriber kept %v, dropped %v", kept, slow.dropped)
	}
	h.unsubscribe(slow) // after a drop: a no-op
	if h.subscribers() != 1 {
		t.Fatalf("%d subscribers", h.subscribers())
	}
}

func TestHubBoundsSubscribersAndCloses(t *testing.T) {
	h := newHub(2, 1, nil)
	a, b := h.subscribe("net", ""), h.subscribe("other", "")
	if a == nil || b == nil {
		t.Fatal("subscribers under the bound refused")
	}
	if h.subscribe("net", "") != nil {
		t.Fatal("a third subscriber accepted over a bound of 2")
	}
	h.unsubscribe(a)
	if c := h.subscribe("net", ""); c == nil {
		t.Fatal("a subscriber refused after another left")
	}
	h.close()
	if _, open := <-b.ch; open || b.dropped {
		t.Fatal("close should end every stream, not as a drop")
	}
	if h.subscribe("net", "") != nil || h.subscribers() != 0 {
		t.Fatal("a closed hub accepts subscribers")
	}
	if n := h.publish("net", "msk", []byte("x")); n != 0 {
		t.Fatalf("a closed hub delivered to %d", n)
	}
}

func drain(s *subscriber) []string {
	var out []string
	for {
		select {
		case m, ok := <-s.ch:
			if !ok {
				return out
			}
			out = append(out, string(m))
		default:
			return out
		}
	}
}
