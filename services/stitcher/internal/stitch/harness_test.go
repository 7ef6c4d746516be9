package stitch

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

// t0 is the scenarios' epoch: Monday 2 March 2026, 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixMilli()

const (
	minute = int64(time.Minute / time.Millisecond)
	day    = int64(24 * time.Hour / time.Millisecond)
)

// ev builds an envelope of tenant acme, account msk at t0+at.
func ev(id, typ string, at int64, f func(*event.Envelope)) event.Envelope {
	e := event.Envelope{V: 1, ID: id, Tenant: "acme", Account: "msk", Type: typ, Source: "api",
		TS: t0 + at, ReceivedAt: t0 + at + 500}
	if f != nil {
		f(&e)
	}
	return e
}

func hit(id, client string, at int64, url, ref string) event.Envelope {
	return ev(id, event.TypePageview, at, func(e *event.Envelope) {
		e.ClientID, e.URL, e.Referrer = client, url, ref
	})
}

func form(id, client string, at int64, phone, email string) event.Envelope {
	return ev(id, event.TypeGoal, at, func(e *event.Envelope) {
		e.Name, e.ClientID, e.URL, e.Phone, e.Email = "form_submit", client, "https://shop.example.ru/contacts", phone, email
	})
}

func call(id, callID string, at int64, caller string, talk int, clients []string, static string) event.Envelope {
	return ev(id, event.TypeCall, at, func(e *event.Envelope) {
		e.Source = "calltouch"
		e.Call = &event.Call{CallID: callID, Provider: "calltouch", CallerPhone: caller, TrackingNumber: "+74950000001",
			Direction: "in", TalkSec: talk, Answered: talk > 0, ClientIDs: clients, Channel: static}
	})
}

// poolNumber is the pool number of the scenarios' leases.
const poolNumber = "+74951110001"

// lease is a number_lease of number to client, from..to after t0.
func lease(id, client string, at int64, number string, from, to int64, shared bool) event.Envelope {
	return ev(id, event.TypeNumberLease, at, func(e *event.Envelope) {
		e.Source, e.ClientID = "numbers", client
		e.Lease = &event.NumberLease{Number: number, From: t0 + from, To: t0 + to, Shared: shared}
	})
}

// poolCall is a call to number that the call tracker reports without a client id.
func poolCall(id, callID string, at int64, caller string, talk int, number string) event.Envelope {
	return ev(id, event.TypeCall, at, func(e *event.Envelope) {
		e.Source = "generic"
		e.Call = &event.Call{CallID: callID, Provider: "generic", CallerPhone: caller, TrackingNumber: number,
			Direction: "in", TalkSec: talk, Answered: talk > 0}
	})
}

func crm(id string, at int64, c event.CRM) event.Envelope {
	if c.Provider == "" {
		c.Provider = "amocrm"
	}
	return ev(id, event.TypeCRM, at, func(e *event.Envelope) { e.Source = "amocrm"; e.CRM = &c })
}

// tables is the latest version of every entity, as ReplacingMergeTree FINAL
// would show it: deleted entities left out.
type tables struct {
	Sessions    []*entity.Session     `json:"sessions"`
	Calls       []*entity.Call        `json:"calls"`
	Leads       []*entity.Lead        `json:"leads"`
	Deals       []*entity.Deal        `json:"deals"`
	Attribution []*entity.Attribution `json:"attribution"`
}

func meta(v any) entity.Meta {
	switch x := v.(type) {
	case *entity.Session:
		return x.Meta
	case *entity.Call:
		return x.Meta
	case *entity.Lead:
		return x.Meta
	case *entity.Deal:
		return x.Meta
	case *entity.Attribution:
		return x.Meta
	}
	panic("unknown entity")
}

// final folds a record stream into latest versions; versions must grow.
func final(t testing.TB, recs []Record) tables {
	latest := map[string]Record{}
	for _, r := range recs {
		k := r.Kind + "/" + r.ID
		if old, ok := latest[k]; ok && meta(old.Value).Version >= meta(r.Value).Version {
			t.Fatalf("%s: version %d after %d", k, meta(r.Value).Version, meta(old.Value).Version)
		}
		latest[k] = r
	}
	keys := make([]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out tables
	for _, k := range keys {
		r := latest[k]
		if meta(r.Value).Deleted {
			continue
		}
		switch v := r.Value.(type) {
		case *entity.Session:
			out.Sessions = append(out.Sessions, v)
		case *entity.Call:
			out.Calls = append(out.Calls, v)
		case *entity.Lead:
			out.Leads = append(out.Leads, v)
		case *entity.Deal:
			out.Deals = append(out.Deals, v)
		case *entity.Attribution:
			out.Attribution = append(out.Attribution, v)
		}
	}
	return out
}

// run feeds events in order through a fresh set and flushes at the end.
func run(rules Rules, evs []event.Envelope) []Record {
	s := NewSet(rules)
	var out []Record
	for _, e := range evs {
		out = append(out, s.Add(e)...)
	}
	return append(out, s.Flush()...)
}

// stripVersions zeroes versions so runs that differ only in intermediate
// versions compare equal.
func stripVersions(tb tables) []byte {
	for _, s := range tb.Sessions {
		s.Version = 0
	}
	for _, s := range tb.Calls {
		s.Version = 0
	}
	for _, s := range tb.Leads {
		s.Version = 0
	}
	for _, s := range tb.Deals {
		s.Version = 0
	}
	for _, s := range tb.Attribution {
		s.Version = 0
	}
	b, _ := json.MarshalIndent(tb, "", "  ")
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create): %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file; run go test -run %s -update and review the diff:\n%s", path, t.Name(), got)
	}
}
