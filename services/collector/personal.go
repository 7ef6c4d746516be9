package collector

import (
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
	"github.com/throughline/throughline/pkg/tenants"
)

// personal holds what the collector needs to read and protect personal
// data per account: the region phone numbers are read in, and the tenant's
// hasher that phones and e-mails are published under (pkg/pii). It is
// built once from the tenants file; lookups are map reads per request.
type personal struct {
	regions map[tenants.Principal]string
	hashers map[string]*pii.Hasher // tenant → hasher; absent: no pii_salt
}

func newPersonal(c *tenants.Config) *personal {
	p := &personal{regions: map[tenants.Principal]string{}, hashers: map[string]*pii.Hasher{}}
	if c == nil {
		return p
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if h := pii.New(t.PIISalt); h != nil {
			p.hashers[t.ID] = h
		}
		p.regions[tenants.Principal{Tenant: t.ID}] = t.Region(nil)
		for j := range t.Accounts {
			p.regions[tenants.Principal{Tenant: t.ID, Account: t.Accounts[j].ID}] = t.Region(&t.Accounts[j])
		}
	}
	return p
}

// unsalted lists the tenants of c without a pii_salt, whose phones and
// e-mails are published in clear (a warning at start-up names them).
func unsalted(c *tenants.Config) []string {
	var out []string
	if c != nil {
		for _, t := range c.Tenants {
			if t.PIISalt == "" {
				out = append(out, t.ID)
			}
		}
	}
	return out
}

// phoneRegion is the region an account's numbers are read in.
func (c *Collector) phoneRegion(p tenants.Principal) string {
	if r, ok := c.personal.regions[p]; ok {
		return r
	}
	return c.personal.regions[tenants.Principal{Tenant: p.Tenant}] // "" → phone.DefaultRegion
}

// hashed returns e with its phones and e-mails replaced by the tenant's
// hashes; e itself is not modified. Without a hasher it returns e.
func (c *Collector) hashed(e *event.Envelope) *event.Envelope {
	h := c.personal.hashers[e.Tenant]
	if h == nil {
		return e
	}
	hasPII := e.Phone != "" || e.Email != "" || e.Call != nil && e.Call.CallerPhone != "" ||
		e.CRM != nil && (len(e.CRM.Phones) > 0 || len(e.CRM.Emails) > 0)
	if !hasPII {
		return e
	}
	out := *e
	out.Phone, out.Email = h.Phone(e.Phone), h.Email(e.Email)
	if e.Call != nil {
		call := *e.Call
		call.CallerPhone = h.Phone(call.CallerPhone)
		out.Call = &call
	}
	if e.CRM != nil {
		m := *e.CRM
		m.Phones = hashAll(m.Phones, h.Phone)
		m.Emails = hashAll(m.Emails, h.Email)
		out.CRM = &m
	}
	return &out
}

func hashAll(vs []string, hash func(string) string) []string {
	if len(vs) == 0 {
		return vs
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = hash(v)
	}
	return out
}

// scrubbed returns a dead letter's reason and payload with the phones and
// e-mails in them hashed (pii.Hasher.Scrub).
func (c *Collector) scrubbed(p tenants.Principal, reason string, payload []byte) (string, []byte) {
	h := c.personal.hashers[p.Tenant]
	if h == nil {
		return reason, payload
	}
	return c.clean(p, reason), h.Scrub(payload, c.phoneRegion(p))
}

// clean returns a refusal's reason, which quotes the value refused, with
// the phones and e-mails in it hashed: for dead letters and logs.
func (c *Collector) clean(p tenants.Principal, reason string) string {
	h := c.personal.hashers[p.Tenant]
	if h == nil {
		return reason
	}
	return string(h.Scrub([]byte(reason), c.phoneRegion(p)))
}
