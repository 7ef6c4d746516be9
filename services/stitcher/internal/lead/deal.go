package lead

import "sort"

// Outcomes of a deal.
const (
	Open = "open"
	Won  = "won"
	Lost = "lost"
)

// Change is one CRM update of a deal.
type Change struct {
	At        int64  `json:"u"` // the CRM's updated_at, else the event time
	TS        int64  `json:"t"`
	EventID   string `json:"i"`
	Pipeline  string `json:"pl,omitempty"`
	Stage     string `json:"st,omitempty"`
	Outcome   string `json:"o,omitempty"`
	Amount    int64  `json:"a,omitempty"`
	Currency  string `json:"cu,omitempty"`
	CRMLeadID string `json:"l,omitempty"`
	CallID    string `json:"k,omitempty"`
	// Units sold (the deal's quantity) when this change carries them.
	Units float64 `json:"n,omitempty"`
}

func (a Change) less(b Change) bool {
	if a.At != b.At {
		return a.At < b.At
	}
	if a.TS != b.TS {
		return a.TS < b.TS
	}
	return a.EventID < b.EventID
}

// Deal is a CRM deal with its changes ordered by the CRM's clock, so a late
// or out-of-order update lands where it belongs.
type Deal struct {
	Provider string   `json:"p"`
	CRMID    string   `json:"id"`
	Changes  []Change `json:"ch"`
}

// Add inserts a change in order; a repeated event id is ignored.
func (d *Deal) Add(c Change) {
	for _, x := range d.Changes {
		if x.EventID == c.EventID {
			return
		}
	}
	i := sort.Search(len(d.Changes), func(i int) bool { return c.less(d.Changes[i]) })
	d.Changes = append(d.Changes, Change{})
	copy(d.Changes[i+1:], d.Changes[i:])
	d.Changes[i] = c
}

// State is a deal's state after all its changes.
type State struct {
	CreatedAt, UpdatedAt, WonAt int64
	Pipeline, Stage, Outcome    string
	Amount                      int64
	Currency                    string
	CRMLeadID, CallID           string
	Revenue                     int64
	Units                       float64 // the latest quantity a change carried
}

// State folds the changes: later changes override the fields they carry; the
// outcome is the latest one; revenue is the amount while the deal is won.
func (d *Deal) State() State {
	s := State{Outcome: Open}
	for i, c := range d.Changes {
		if i == 0 {
			s.CreatedAt = c.At
		}
		s.UpdatedAt = c.At
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&s.Pipeline, c.Pipeline)
		set(&s.Stage, c.Stage)
		set(&s.Currency, c.Currency)
		set(&s.CRMLeadID, c.CRMLeadID)
		set(&s.CallID, c.CallID)
		if c.Amount != 0 {
			s.Amount = c.Amount
		}
		if c.Units != 0 {
			s.Units = c.Units
		}
		if c.Outcome != "" {
			if c.Outcome == Won && s.Outcome != Won {
				s.WonAt = c.At
			}
			s.Outcome = c.Outcome
		}
	}
	if s.Outcome == Won {
		s.Revenue = s.Amount
	} else {
		s.WonAt = 0
	}
	return s
}
