// Package lead holds the rules that turn contacts into leads, judge calls,
// and fold a CRM deal's changes into its current state: a form, a target
// call, a chat or a CRM-created lead is a contact; contacts of one person
// within the lead window of a lead's first contact are that lead.
package lead

import (
	"sort"
	"time"
)

// Contact kinds.
const (
	KindForm = "form"
	KindCall = "call"
	KindChat = "chat"
	KindCRM  = "crm"
)

// Contact is one way a person reached out.
type Contact struct {
	TS        int64  `json:"t"`
	ID        string `json:"i"` // the event id (for a call: the call key)
	Kind      string `json:"k"`
	ClientID  string `json:"c,omitempty"`
	CallID    string `json:"call,omitempty"` // vendor call id
	CRMLeadID string `json:"crm,omitempty"`  // provider:id
}

// Less orders contacts by time, then id.
func Less(a, b Contact) bool {
	if a.TS != b.TS {
		return a.TS < b.TS
	}
	return a.ID < b.ID
}

// Lead is a run of contacts: the first one and those folded into it.
type Lead struct {
	First    Contact
	Members  []Contact
	LastTS   int64
	CallIDs  []string
	CRMLeads []string
}

// Fold groups ordered contacts into leads: a contact within window of the
// current lead's first contact joins it; otherwise it starts a new lead.
func Fold(contacts []Contact, window time.Duration) []Lead {
	var out []Lead
	w := window.Milliseconds()
	for _, c := range contacts {
		if n := len(out); n == 0 || c.TS-out[n-1].First.TS > w {
			out = append(out, Lead{First: c})
		}
		l := &out[len(out)-1]
		l.Members = append(l.Members, c)
		l.LastTS = c.TS
		if c.CallID != "" {
			l.CallIDs = append(l.CallIDs, c.CallID)
		}
		if c.CRMLeadID != "" {
			l.CRMLeads = append(l.CRMLeads, c.CRMLeadID)
		}
	}
	return out
}

// Sort orders contacts in place.
func Sort(cs []Contact) { sort.Slice(cs, func(i, j int) bool { return Less(cs[i], cs[j]) }) }
