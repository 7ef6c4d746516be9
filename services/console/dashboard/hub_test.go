package dashboard

import (
	"fmt"
	"testing"
)

func TestHubSendsATenantsLeadsToItsSubscribersOnly(t *testing.T) {
	h := newHub(10, 10, 4, nil)
	net := sub(h, "net", "")
	msk := sub(h, "net", "msk")
	other := sub(h, "other", "")
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
	h := newHub(10, 10, 3, func(tenant string) { dropped = append(dropped, tenant) })
	slow := sub(h, "net", "")
	fast := sub(h, "net", "")
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
	h := newHub(2, 2, 1, nil)
	a, b := sub(h, "net", ""), sub(h, "other", "")
	if a == nil || b == nil {
		t.Fatal("subscribers under the bound refused")
	}
	if sub(h, "net", "") != nil {
		t.Fatal("a third subscriber accepted over a bound of 2")
	}
	h.unsubscribe(a)
	if c := sub(h, "net", ""); c == nil {
		t.Fatal("a subscriber refused after another left")
	}
	h.close()
	if _, open := <-b.ch; open || b.dropped {
		t.Fatal("close should end every stream, not as a drop")
	}
	if sub(h, "net", "") != nil || h.subscribers() != 0 {
		t.Fatal("a closed hub accepts subscribers")
	}
	if n := h.publish("net", "msk", []byte("x")); n != 0 {
		t.Fatalf("a closed hub delivered to %d", n)
	}
}

// sub is subscribe for tests that need only the stream (nil when refused).
func sub(h *hub, tenant, account string) *subscriber {
	s, _ := h.subscribe(tenant, account)
	return s
}

// One tenant's streams stop at its share; another tenant still gets one,
// and the hub-wide bound is still enforced over every tenant.
func TestHubCapsStreamsPerTenant(t *testing.T) {
	h := newHub(5, 3, 1, nil)
	for i := range 3 {
		if _, err := h.subscribe("greedy", ""); err != nil {
			t.Fatalf("stream %d of greedy under its share refused: %v", i, err)
		}
	}
	steps := []struct {
		tenant string
		want   error
	}{
		{"greedy", errTenantFull},
		{"greedy", errTenantFull},
		{"other", nil},
		{"third", nil},
		{"fourth", errHubFull},
	}
	for i, st := range steps {
		_, err := h.subscribe(st.tenant, "")
		if err != st.want {
			t.Fatalf("step %d (%s): %v, want %v", i, st.tenant, err, st.want)
		}
	}
	if h.subscribers() != 5 {
		t.Fatalf("%d subscribers, want 5", h.subscribers())
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
