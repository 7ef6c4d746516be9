package stitch

import (
	"fmt"
	"sort"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
)

// Rules are what every account of a deployment is stitched by.
type Rules struct {
	Policy   Policy
	Catalog  *channel.Catalog
	Lateness time.Duration
	// Hashers are the tenants' hashers of phones and e-mails (pkg/pii), for
	// re-keying state written before a tenant set its pii_salt; nil: none.
	Hashers map[string]*pii.Hasher
}

// DefaultRules are DESIGN.md's defaults with a lateness of 2 minutes.
func DefaultRules() Rules {
	cat, err := channel.NewCatalog(nil)
	if err != nil {
		panic(err)
	}
	return Rules{Policy: Policy{Default: DefaultSettings()}, Catalog: cat, Lateness: 2 * time.Minute}
}

// Set is the state of the accounts of one input partition.
type Set struct {
	rules    Rules
	accounts map[string]*Account
	touched  map[string]bool
	full     bool // see Account.full
	scan     bool // see Account.scanPrune
	slab     slab // its accounts' person values (state.go)
}

// NewSet returns an empty set.
func NewSet(r Rules) *Set {
	return &Set{rules: r, accounts: map[string]*Account{}, touched: map[string]bool{}}
}

func (s *Set) account(tenant, account string) *Account {
	k := tenant + "/" + account
	a := s.accounts[k]
	if a == nil {
		a = NewAccount(tenant, account, Env{
			Settings:   s.rules.Policy.For(tenant, account),
			Classifier: s.rules.Catalog.For(tenant),
			Lateness:   s.rules.Lateness,
			Rekey:      s.rules.Hashers[tenant],
		})
		a.full, a.scanPrune = s.full, s.scan
		a.slab = &s.slab
		s.accounts[k] = a
	}
	s.touched[k] = true
	return a
}

// Add routes an event to its account.
func (s *Set) Add(e event.Envelope) []Record { return s.account(e.Tenant, e.Account).Add(e) }

// Flush applies every buffered event of every account, in account order.
func (s *Set) Flush() []Record {
	var out []Record
	for _, k := range sortedKeys(s.accounts) {
		a := s.accounts[k]
		if a.Pending() > 0 {
			s.touched[k] = true
			out = append(out, a.Flush()...)
		}
	}
	return out
}

// Pending is how many events wait for their accounts' watermarks.
func (s *Set) Pending() int {
	n := 0
	for _, a := range s.accounts {
		n += a.Pending()
	}
	return n
}

// TakeChanges returns the state changes of every account touched since the
// last call.
func (s *Set) TakeChanges() []StateChange {
	keys := make([]string, 0, len(s.touched))
	for k := range s.touched {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []StateChange
	for _, k := range keys {
		out = append(out, s.accounts[k].TakeChanges()...)
	}
	clear(s.touched)
	return out
}

// Restore applies one changelog record (the latest value of its key).
func (s *Set) Restore(key string, value []byte) error {
	t, a, ok := SplitStateKey(key)
	if !ok {
		return fmt.Errorf("restoring state: malformed key %q", key)
	}
	err := s.account(t, a).Restore(key, value)
	delete(s.touched, t+"/"+a)
	return err
}

// Accounts lists the accounts of the set, sorted.
func (s *Set) Accounts() []*Account {
	out := make([]*Account, 0, len(s.accounts))
	for _, k := range sortedKeys(s.accounts) {
		out = append(out, s.accounts[k])
	}
	return out
}

// Clients is how many client ids the set keeps.
func (s *Set) Clients() int {
	n := 0
	for _, a := range s.accounts {
		n += a.Clients()
	}
	return n
}
