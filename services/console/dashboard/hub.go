package dashboard

import (
	"errors"
	"sync"
)

// Why subscribe refused a stream.
var (
	errHubFull    = errors.New("too many live streams are open; retry shortly")
	errTenantFull = errors.New("this tenant has as many live streams open as it may; close one (another tab or screen) or retry shortly")
	errHubClosed  = errors.New("the console is stopping; retry shortly")
)

// hub fans live leads out to the stream subscribers of their tenant. Every
// subscriber has a bounded buffer; one that falls behind is dropped (its
// channel closed, its stream ended, the page reconnects) so a slow reader
// never holds up the others or the feed.
type hub struct {
	mu    sync.Mutex
	subs  map[string]map[*subscriber]struct{} // by tenant
	count int
	max   int // subscribers at most, over every tenant
	// perTenant bounds one tenant's subscribers, so one tenant (a
	// misbehaving wall screen, a script) cannot take every stream.
	perTenant int
	buffer    int
	closed    bool
	dropped   func(tenant string) // called (under mu) when a slow subscriber is dropped
}

// subscriber is one open stream.
type subscriber struct {
	tenant  string
	account string // "" for every account of the tenant
	ch      chan []byte
	dropped bool // closed because it fell behind (not by unsubscribe or close)
}

func newHub(maxSubs, perTenant, buffer int, dropped func(string)) *hub {
	return &hub{subs: map[string]map[*subscriber]struct{}{}, max: maxSubs, perTenant: perTenant,
		buffer: buffer, dropped: dropped}
}

// subscribe opens a stream of a tenant's leads (one account's, if set). It
// refuses when the hub is closed, full, or the tenant has its share open.
func (h *hub) subscribe(tenant, account string) (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, errHubClosed
	case len(h.subs[tenant]) >= h.perTenant:
		return nil, errTenantFull
	case h.count >= h.max:
		return nil, errHubFull
	}
	s := &subscriber{tenant: tenant, account: account, ch: make(chan []byte, h.buffer)}
	if h.subs[tenant] == nil {
		h.subs[tenant] = map[*subscriber]struct{}{}
	}
	h.subs[tenant][s] = struct{}{}
	h.count++
	return s, nil
}

// unsubscribe ends a stream; it is a no-op for one already dropped.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(s)
}

// remove takes s out and closes its channel; the caller holds mu.
func (h *hub) remove(s *subscriber) {
	set := h.subs[s.tenant]
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.tenant)
	}
	h.count--
	close(s.ch)
}

// publish hands msg to the tenant's subscribers (of the account, or of
// every account) without waiting: a subscriber whose buffer is full is
// dropped. It returns how many subscribers got it.
func (h *hub) publish(tenant, account string, msg []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for s := range h.subs[tenant] {
		if s.account != "" && s.account != account {
			continue
		}
		select {
		case s.ch <- msg:
			n++
		default:
			s.dropped = true
			h.remove(s)
			if h.dropped != nil {
				h.dropped(tenant)
			}
		}
	}
	return n
}

// subscribers is how many streams are open.
func (h *hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// close ends every stream and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, set := range h.subs {
		for s := range set {
			h.remove(s)
		}
	}
}
