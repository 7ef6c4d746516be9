package stitch

import (
	"sort"
	"strings"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/stitcher/internal/identity"
)

// Web-analytics ids (Yandex Metrica's ClientID, Google Analytics' client id)
// join a visitor's hits and the calls a call tracker reports with them.
// A hit carrying them links the person to identity.WebAnalytics keys — the
// keys a call's "ym:<id>"/"ga:<id>" client ids make — and records which of
// our client ids carried each (identity.WebVisitor). So a call with no
// client id of ours but the visitor's Metrica id is the visitor's person,
// and is matched to that client's sessions, in whichever order the hit and
// the call arrive. The records live in the identity graph (the person's
// keys): the person's state format does not change.

// webKeys are the explicit keys a hit's web-analytics ids add.
func webKeys(e event.Envelope) []string {
	var keys []string
	for _, w := range [...]struct{ ns, id string }{{identity.NamespaceYM, e.YMClientID}, {identity.NamespaceGA, e.GAClientID}} {
		if w.id != "" && e.ClientID != "" {
			keys = append(keys, identity.WebAnalytics(w.ns, w.id), identity.WebVisitor(w.ns, w.id, e.ClientID))
		}
	}
	return keys
}

// callClients are the client ids a call is matched to sessions by: its own,
// and for each web-analytics id among them ("ym:<id>", "ga:<id>"), the
// clients of the person that carried it. keys are the person's, sorted.
func callClients(keys, ids []string) []string {
	out := ids
	for _, id := range ids {
		ns, v, ok := strings.Cut(id, ":")
		if !ok || ns != identity.NamespaceYM && ns != identity.NamespaceGA {
			continue
		}
		prefix := identity.WebVisitorPrefix(ns, v)
		for i := sort.SearchStrings(keys, prefix); i < len(keys) && strings.HasPrefix(keys[i], prefix); i++ {
			if _, _, cid, ok := identity.ParseWebVisitor(keys[i]); ok {
				if len(out) == len(ids) {
					out = append([]string(nil), ids...) // never append to the call's own list
				}
				out = append(out, cid)
			}
		}
	}
	return out
}

// clientWebIDs are the Metrica and GA ids a client carried (the smallest,
// when the analytics' cookie changed under one client id of ours).
func clientWebIDs(keys []string, clientID string) (ym, ga string) {
	i := sort.SearchStrings(keys, "w:")
	for ; i < len(keys) && strings.HasPrefix(keys[i], "w:"); i++ {
		ns, id, cid, ok := identity.ParseWebVisitor(keys[i])
		if !ok || cid != clientID {
			continue
		}
		switch {
		case ns == identity.NamespaceYM && ym == "":
			ym = id
		case ns == identity.NamespaceGA && ga == "":
			ga = id
		}
	}
	return ym, ga
}
