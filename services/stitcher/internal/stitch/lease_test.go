package stitch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

// poolStream is stream with Throughline's number insertion mixed in: every
// other page view leases one of three pool numbers to its client, and half
// the calls that carried a client id reach the account's last leased number
// without one (inside its lease or not).
func poolStream(seed uint64, accounts, n int) []event.Envelope {
	pool := []string{"+74951110001", "+74951110002", "+74951110003"}
	var out []event.Envelope
	last := map[string]string{}
	for i, e := range stream(seed, accounts, n) {
		switch {
		case e.Type == event.TypePageview && i%2 == 0:
			num := pool[i%len(pool)]
			last[e.Account] = num
			l := ev("l"+e.ID, event.TypeNumberLease, e.TS-t0, func(l *event.Envelope) {
				l.ClientID, l.Account, l.ReceivedAt = e.ClientID, e.Account, e.ReceivedAt
				l.Lease = &event.NumberLease{Number: num, From: e.TS, To: e.TS + 30*minute, Shared: i%7 == 0}
			})
			out = append(out, e, l)
			continue
		case e.Type == event.TypeCall && len(e.Call.ClientIDs) > 0 && i%2 == 0 && last[e.Account] != "":
			c := *e.Call
			c.ClientIDs, c.TrackingNumber = nil, last[e.Account]
			e.Call = &c
		}
		out = append(out, e)
	}
	return out
}

// linked counts calls that joined a session without a client id from the
// call tracker: the pool's.
func poolLinked(t *testing.T, evs []event.Envelope) int {
	n := 0
	for _, c := range final(t, run(DefaultRules(), evs)).Calls {
		if c.SessionID != "" && c.TrackingNumber != "" && c.TrackingNumber[:8] == "+7495111" {
			n++
		}
	}
	return n
}

// TestLeaseAfterCallWithinLateness: a lease that reaches the stitcher after
// the call it covers, but within the lateness, gives the in-order records.
func TestLeaseAfterCallWithinLateness(t *testing.T) {
	in := []event.Envelope{
		hit("o1", "A", 0, site+"?yclid=901", ""),
		lease("o2", "A", 9*minute, poolNumber, 9*minute, 39*minute, false),
		poolCall("o3", "ct-31", 10*minute, "+79160000031", 60, poolNumber),
	}
	want := byAccount(run(DefaultRules(), in))
	got := byAccount(run(DefaultRules(), []event.Envelope{in[0], in[2], in[1]}))
	if !bytes.Equal(want["msk"], got["msk"]) {
		t.Fatalf("a lease one minute behind its call changes the records:\n got %s\nwant %s", got["msk"], want["msk"])
	}
	tb := final(t, run(DefaultRules(), []event.Envelope{in[0], in[2], in[1]}))
	if len(tb.Calls) != 1 || tb.Calls[0].Channel != "yandex_direct" {
		t.Fatalf("call: %+v", tb.Calls)
	}
}

// TestPoolShuffleAndRestore: with leases in the stream, input shuffled
// within the lateness and restarts from the changelog (leases live in the
// account's meta record) give exactly the records of one in-order run.
func TestPoolShuffleAndRestore(t *testing.T) {
	rules := DefaultRules()
	lateness := rules.Lateness.Milliseconds()
	for seed := range uint64(3) {
		evs := poolStream(seed, 2, 1500)
		if n := poolLinked(t, evs); n < 5 {
			t.Fatalf("seed %d: only %d calls linked through a pool lease", seed, n)
		}
		want := byAccount(run(rules, evs))

		rng := rand.New(rand.NewPCG(seed, 42))
		jitter := make(map[string]int64, len(evs))
		for _, e := range evs {
			jitter[e.ID] = e.TS + rng.Int64N(lateness/2)
		}
		shuffled := append([]event.Envelope(nil), evs...)
		sort.SliceStable(shuffled, func(i, j int) bool { return jitter[shuffled[i].ID] < jitter[shuffled[j].ID] })

		s := NewSet(rules)
		var recs []Record
		changelog := map[string][]byte{}
		for i, e := range shuffled {
			recs = append(recs, s.Add(e)...)
			if i%101 != 0 {
				continue
			}
			for _, c := range s.TakeChanges() {
				changelog[c.Key] = c.Value
			}
			s = NewSet(rules)
			keys := make([]string, 0, len(changelog))
			for k := range changelog {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if err := s.Restore(k, changelog[k]); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := byAccount(append(recs, s.Flush()...))
		for acc, w := range want {
			if !bytes.Equal(w, got[acc]) {
				t.Fatalf("seed %d account %s: shuffled and restarted input gives different records", seed, acc)
			}
		}
	}
}

// TestLeasesBounded: leases are kept PoolCallWindow after they end, at most
// maxLeasesPerNumber per number and maxLeasesPerAccount in all.
func TestLeasesBounded(t *testing.T) {
	a := NewAccount("acme", "msk", Env{Settings: DefaultSettings(), Classifier: DefaultRules().Catalog.For("acme")})
	for i := range 200 {
		at := int64(i) * minute
		a.Add(lease(fmt.Sprintf("b%03d", i), fmt.Sprintf("c%d", i), at, poolNumber, at, at+30*minute, true))
	}
	a.Flush()
	if n := len(a.meta.Leases[poolNumber]); n != maxLeasesPerNumber {
		t.Fatalf("%d leases kept, want %d", n, maxLeasesPerNumber)
	}
	if got := a.leaseAt(poolNumber, t0+199*minute+10*minute); got != "c199" {
		t.Fatalf("latest holder: %q", got)
	}
	a.Add(hit("late", "Z", 3*day, site, ""))
	a.Add(lease("other", "Y", 3*day, "+74951110002", 3*day, 3*day+30*minute, false))
	a.Flush()
	if _, ok := a.meta.Leases["+74951110002"]; !ok {
		t.Fatal("a fresh lease was dropped")
	}
	a.meta.PrunedAt = 0
	a.prune()
	if _, ok := a.meta.Leases[poolNumber]; ok {
		t.Fatalf("leases that ended days ago are still kept: %d", len(a.meta.Leases[poolNumber]))
	}
}

func TestLeasesBoundedPerAccount(t *testing.T) {
	a := NewAccount("acme", "msk", Env{Settings: DefaultSettings(), Classifier: DefaultRules().Catalog.For("acme")})
	for i := range 3000 {
		at := int64(i) * minute / 10
		num := fmt.Sprintf("+749511%05d", i%1000)
		a.Add(lease(fmt.Sprintf("b%04d", i), fmt.Sprintf("c%d", i), at, num, at, at+30*minute, false))
	}
	a.Flush()
	n := 0
	for _, ls := range a.meta.Leases {
		n += len(ls)
	}
	if n != maxLeasesPerAccount {
		t.Fatalf("%d leases kept, want %d", n, maxLeasesPerAccount)
	}
	if got := a.leaseAt("+74951100999", t0+2999*minute/10); got != "c2999" {
		t.Fatalf("the newest lease was dropped: %q", got)
	}
	if got := a.leaseAt("+74951100000", t0); got != "" {
		t.Fatalf("the lease that ended first is kept: %q", got)
	}
	var meta []byte
	for _, c := range a.Snapshot() {
		if strings.HasSuffix(c.Key, "/m") {
			meta = c.Value
		}
	}
	if len(meta) > 256<<10 {
		t.Fatalf("meta record of %d bytes", len(meta))
	}
	t.Logf("meta record with %d leases: %d bytes", n, len(meta))
}
