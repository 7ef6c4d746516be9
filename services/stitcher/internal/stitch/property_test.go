package stitch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
)

// stream generates a plausible account history: visits from several
// channels, forms, calls (dynamic and static), CRM leads and deals with
// out-of-order updates, shared phones that merge devices. Events are in
// event-time order; received_at is a little later.
func stream(seed uint64, accounts, n int) []event.Envelope {
	rng := rand.New(rand.NewPCG(seed, 7))
	urls := []string{site + "?yclid=%d", site + "?gclid=%d", site + "?utm_source=vk&utm_medium=paid&utm_campaign=c%d", site + "page%d", site}
	refs := []string{"", "https://yandex.ru/", "https://t.me/x", "https://partner.org/", ""}
	var out []event.Envelope
	ts := int64(0)
	for i := range n {
		ts += rng.Int64N(20 * minute)
		acc := fmt.Sprintf("b%d", rng.IntN(accounts))
		client := fmt.Sprintf("c%d", rng.IntN(n/8+1))
		phone := fmt.Sprintf("+7916%07d", rng.IntN(n/12+1))
		id := fmt.Sprintf("e%05d", i)
		var e event.Envelope
		switch r := rng.IntN(100); {
		case r < 70:
			e = hit(id, client, ts, fmt.Sprintf(urls[rng.IntN(len(urls))], rng.IntN(5)), refs[rng.IntN(len(refs))])
		case r < 78:
			e = form(id, client, ts, phone, "")
		case r < 86:
			var clients []string
			static := ""
			if rng.IntN(2) == 0 {
				clients = []string{client}
			} else {
				static = []string{"avito", "radio"}[rng.IntN(2)]
			}
			e = call(id, "k"+id, ts, phone, rng.IntN(120), clients, static)
		case r < 90:
			e = crm(id, ts, event.CRM{Entity: "lead", Action: "add", LeadID: "L" + id, Phones: []string{phone}})
		default:
			outcome := []string{"open", "won", "lost", "won"}[rng.IntN(4)]
			e = crm(id, ts, event.CRM{Entity: "deal", Action: "status", DealID: fmt.Sprintf("D%d", rng.IntN(n/20+1)),
				Phones: []string{phone}, Outcome: outcome, Amount: int64(1+rng.IntN(100)) * 1000,
				UpdatedAt: t0 + ts - rng.Int64N(3*day)})
		}
		e.Account = acc
		e.ReceivedAt = e.TS + rng.Int64N(2000)
		out = append(out, e)
	}
	return out
}

func byAccount(recs []Record) map[string][]byte {
	out := map[string][]byte{}
	for _, r := range recs {
		m := meta(r.Value)
		b, _ := json.Marshal(r.Value)
		out[m.Account] = append(append(out[m.Account], b...), '\n')
	}
	return out
}

// TestShuffleWithinLateness: any arrival order in which no event is later
// than the lateness gives exactly the same records, versions included.
func TestShuffleWithinLateness(t *testing.T) {
	rules := DefaultRules()
	lateness := rules.Lateness.Milliseconds()
	for seed := range uint64(5) {
		evs := stream(seed, 3, 1500)
		want := byAccount(run(rules, evs))
		rng := rand.New(rand.NewPCG(seed, 99))
		jitter := make(map[string]int64, len(evs))
		for _, e := range evs {
			jitter[e.ID] = e.TS + rng.Int64N(lateness/2)
		}
		shuffled := append([]event.Envelope(nil), evs...)
		sort.SliceStable(shuffled, func(i, j int) bool { return jitter[shuffled[i].ID] < jitter[shuffled[j].ID] })
		moved := 0
		for i := range evs {
			if evs[i].ID != shuffled[i].ID {
				moved++
			}
		}
		if moved == 0 {
			t.Fatal("the shuffle moved nothing")
		}
		got := byAccount(run(rules, shuffled))
		for acc, w := range want {
			if !bytes.Equal(w, got[acc]) {
				t.Fatalf("seed %d account %s: shuffled input (%d moved) gives different records", seed, acc, moved)
			}
		}
	}
}

// TestBeyondLateness: events later than the lateness are applied on arrival
// and re-state what they affect; the latest versions equal an in-order run's.
func TestBeyondLateness(t *testing.T) {
	rules := DefaultRules()
	for seed := range uint64(5) {
		evs := stream(seed, 2, 1200)
		want := stripVersions(final(t, run(rules, evs)))
		rng := rand.New(rand.NewPCG(seed, 5))
		late := append([]event.Envelope(nil), evs...)
		rng.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] }) // up to days late
		recs := run(rules, late)
		got := stripVersions(final(t, recs))
		if !bytes.Equal(want, got) {
			t.Fatalf("seed %d: late input gives different final tables", seed)
		}
	}
}

// TestAttributionInvariants: for every model, weights of each lead sum to 1
// and revenue attributed over channels equals the won revenue of the leads.
func TestAttributionInvariants(t *testing.T) {
	for seed := range uint64(8) {
		tb := final(t, run(DefaultRules(), stream(seed, 2, 2000)))
		if len(tb.Leads) == 0 || len(tb.Deals) == 0 {
			t.Fatal("the stream made no leads or deals")
		}
		checkSums(t, tb)
		won := 0.0
		for _, l := range tb.Leads {
			won += float64(l.RevenueMinor)
		}
		if won == 0 {
			t.Fatal("the stream won nothing")
		}
		byModel := map[string]map[string]float64{}
		for _, r := range tb.Attribution {
			if byModel[r.Model] == nil {
				byModel[r.Model] = map[string]float64{}
			}
			byModel[r.Model][r.Channel] += r.RevenueMinor
		}
		for m, chans := range byModel {
			sum := 0.0
			for _, v := range chans {
				sum += v
			}
			if math.Abs(sum-won) > 1e-6*won {
				t.Errorf("seed %d %s: attributed %v, won %v", seed, m, sum, won)
			}
		}
		var deals int64
		for _, d := range tb.Deals {
			if d.LeadID != "" {
				deals += d.RevenueMinor
			}
		}
		if float64(deals) != won {
			t.Errorf("seed %d: lead revenue %v, linked won deals %d", seed, won, deals)
		}
	}
}

// TestRestoreContinues: state written to the changelog and read back
// continues exactly like the state that was never interrupted.
func TestRestoreContinues(t *testing.T) {
	rules := DefaultRules()
	evs := stream(3, 3, 2000)
	want := byAccount(run(rules, evs))

	s := NewSet(rules)
	var recs []Record
	changelog := map[string][]byte{}
	for i, e := range evs {
		recs = append(recs, s.Add(e)...)
		if i%97 == 0 { // a restart: only the changelog survives
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
	}
	recs = append(recs, s.Flush()...)
	got := byAccount(recs)
	for acc, w := range want {
		if !bytes.Equal(w, got[acc]) {
			t.Fatalf("account %s: restored state continues differently", acc)
		}
	}
}

// TestStateExpires: persons idle longer than the TTL are dropped.
func TestStateExpires(t *testing.T) {
	rules := DefaultRules()
	s := NewSet(rules)
	s.Add(hit("old", "A", 0, site, ""))
	s.Add(hit("new", "B", int64(181*24*time.Hour/time.Millisecond), site, ""))
	s.Add(hit("newer", "B", int64(182*24*time.Hour/time.Millisecond), site, ""))
	s.Flush()
	if got := s.Clients(); got != 1 {
		t.Errorf("clients kept: %d, want 1", got)
	}
	var tomb bool
	for _, c := range s.TakeChanges() {
		tomb = tomb || c.Value == nil
	}
	if !tomb {
		t.Error("an expired person leaves a changelog tombstone")
	}
	_ = entity.Meta{}
}
