package stitch

import (
	"bytes"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/identity"
)

const (
	ymA = "1700000000123456789"
	gaA = "1234567890.1700000000"
)

// metricaHit is a page view of client that also carried the visitor's
// Metrica and GA ids.
func metricaHit(id, client string, at int64, url, ym, ga string) event.Envelope {
	e := hit(id, client, at, url, "")
	e.YMClientID, e.GAClientID = ym, ga
	return e
}

// A call tracker that reports only the visitor's Metrica ClientID (CoMagic's
// ym_client_id) links the call to the visitor whose hits carried it: the
// call is matched to that client's session and its lead is credited to the
// session's channel — in whichever order the hit and the call arrive. The
// session names its Metrica and GA ids.
func TestCallLinkedByMetricaClientID(t *testing.T) {
	in := []event.Envelope{
		metricaHit("w1", "A", 0, site+"?utm_source=yandex&utm_medium=cpc&yclid=77", ymA, gaA),
		hit("w2", "B", 2*minute, site, ""), // another visitor, direct
		call("w3", "ct-1", 10*minute, "+79160000001", 60, []string{"ym:" + ymA}, ""),
	}
	want := stripVersions(final(t, run(DefaultRules(), in)))
	// The call arrives first, ten minutes ahead of the hits (beyond the
	// lateness: applied on arrival); the tables end up the same.
	if got := stripVersions(final(t, run(DefaultRules(), []event.Envelope{in[2], in[1], in[0]}))); !bytes.Equal(want, got) {
		t.Fatalf("the call before the hit changes the tables:\n got %s\nwant %s", got, want)
	}
	tb := final(t, run(DefaultRules(), in))
	if len(tb.Calls) != 1 || tb.Calls[0].Channel != "yandex_direct" || tb.Calls[0].SessionID == "" {
		t.Fatalf("call: %+v", tb.Calls)
	}
	var sessA string
	for _, s := range tb.Sessions {
		switch s.ClientID {
		case "A":
			sessA = s.SessionID
			if s.YMClientID != ymA || s.GAClientID != gaA {
				t.Fatalf("session of A: ym %q ga %q", s.YMClientID, s.GAClientID)
			}
		case "B":
			if s.YMClientID != "" || s.GAClientID != "" {
				t.Fatalf("session of B names ids it never carried: %+v", s)
			}
		}
	}
	if tb.Calls[0].SessionID != sessA {
		t.Fatalf("call matched to session %s, want A's %s", tb.Calls[0].SessionID, sessA)
	}
	if len(tb.Leads) != 1 || tb.Leads[0].Kind != "call" || tb.Leads[0].PersonID != tb.Calls[0].PersonID {
		t.Fatalf("leads: %+v", tb.Leads)
	}
	credited := map[string]float64{}
	for _, a := range tb.Attribution {
		if a.Model == "last_non_direct" {
			credited[a.Channel] += a.Weight
		}
	}
	if credited["yandex_direct"] != 1 || len(credited) != 1 {
		t.Fatalf("last_non_direct credit %v, want all to yandex_direct", credited)
	}
}

// GA's client id links the same way; an id nobody's hits carried links the
// call to nobody (no session: it keeps the static channel or none).
func TestCallLinkedByGAClientIDOnly(t *testing.T) {
	tb := final(t, run(DefaultRules(), []event.Envelope{
		metricaHit("g1", "A", 0, site+"?utm_source=google&utm_medium=cpc&gclid=9", "", gaA),
		call("g2", "ct-2", 5*minute, "+79160000002", 60, []string{"ga:" + gaA}, ""),
		call("g3", "ct-3", 6*minute, "+79160000003", 60, []string{"ym:42"}, ""),
	}))
	byCall := map[string]string{}
	for _, c := range tb.Calls {
		byCall[c.VendorCallID] = c.Channel + "/" + c.SessionID
	}
	if byCall["ct-2"] == "" || byCall["ct-2"][:len("google_ads/")] != "google_ads/" {
		t.Fatalf("call by GA id: %v", byCall)
	}
	if byCall["ct-3"] != channel.None+"/" {
		t.Fatalf("call by an unknown Metrica id: %q", byCall["ct-3"])
	}
}

func TestWebIdentityKeys(t *testing.T) {
	e := metricaHit("x", "cid.1", 0, site, ymA, gaA)
	keys := webKeys(e)
	want := []string{"c:ym:" + ymA, "w:ym:" + ymA + ":cid.1", "c:ga:" + gaA, "w:ga:" + gaA + ":cid.1"}
	if len(keys) != len(want) {
		t.Fatalf("keys %v", keys)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %v, want %v", keys, want)
		}
	}
	// the call tracker's copy is the same key
	if identity.Client("ym:"+ymA) != identity.WebAnalytics(identity.NamespaceYM, ymA) {
		t.Fatal("a call's ym: client id and a hit's Metrica id are different keys")
	}
	sorted := []string{"c:cid.1", "c:cid.2", "w:ga:" + gaA + ":cid.1", "w:ym:" + ymA + ":cid.1", "w:ym:" + ymA + ":cid:2"}
	if got := callClients(sorted, []string{"ct:5", "ym:" + ymA}); len(got) != 4 || got[2] != "cid.1" || got[3] != "cid:2" {
		t.Fatalf("call clients %v", got)
	}
	if got := callClients(sorted, []string{"ym:1"}); len(got) != 1 {
		t.Fatalf("an unknown id found clients: %v", got)
	}
	if ym, ga := clientWebIDs(sorted, "cid.1"); ym != ymA || ga != gaA {
		t.Fatalf("web ids of cid.1: %q %q", ym, ga)
	}
	if ym, ga := clientWebIDs(sorted, "cid.2"); ym != "" || ga != "" {
		t.Fatalf("web ids of cid.2: %q %q", ym, ga)
	}
	if webKeys(event.Envelope{YMClientID: ymA}) != nil {
		t.Fatal("an id without a client id of ours makes keys")
	}
}

// A session whose first hit had no Metrica id gains it when a later hit
// brings it (Metrica's script set the cookie after ours ran): the session
// is emitted again with the id.
func TestSessionGainsMetricaIDLater(t *testing.T) {
	tb := final(t, run(DefaultRules(), []event.Envelope{
		hit("l1", "A", 0, site+"?utm_source=yandex&utm_medium=cpc", ""),
		metricaHit("l2", "A", time.Minute.Milliseconds(), site+"p2", ymA, ""),
	}))
	if len(tb.Sessions) != 1 || tb.Sessions[0].YMClientID != ymA || tb.Sessions[0].Hits != 2 {
		t.Fatalf("sessions: %+v", tb.Sessions)
	}
}
