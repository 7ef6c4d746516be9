package stitch

import (
	"sort"
	"strings"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/stitcher/internal/attribution"
)

// restate re-derives a person's entities and returns records for those whose
// content changed (a new version) and deletions for those that no longer
// exist (after a merge, a late hit that re-cut sessions, a folded lead).
func (a *Account) restate(p *Person) []Record {
	d := a.derive(p)
	p.summarize(&d)
	var out []Record
	for _, s := range d.sessions {
		out = a.put(p, out, KindSession, s.SessionID, s, &s.Meta, fpSession(s))
	}
	for _, c := range d.calls {
		out = a.put(p, out, KindCall, c.CallID, c, &c.Meta, fpCall(c))
	}
	for _, l := range d.leads {
		out = a.put(p, out, KindLead, l.LeadID, l, &l.Meta, fpLead(l))
	}
	for _, dl := range d.deals {
		out = a.put(p, out, KindDeal, dl.DealID, dl, &dl.Meta, fpDeal(dl))
	}
	for i, l := range d.leads {
		out = append(out, a.restateAttribution(p, l.LeadID, d.attr[i])...)
	}
	// Entity ids are distinct, so Emitted holds one key per entity derived
	// now, plus those that no longer exist.
	if len(p.Emitted) == len(d.sessions)+len(d.calls)+2*len(d.leads)+len(d.deals) {
		return out
	}
	return a.supersede(p, &d, out)
}

// supersede appends deletions of p's entities emitted before that d no
// longer has.
func (a *Account) supersede(p *Person, d *derived, out []Record) []Record {
	seen := make(map[string]bool, len(p.Emitted))
	for _, s := range d.sessions {
		seen[KindSession+":"+s.SessionID] = true
	}
	for _, c := range d.calls {
		seen[KindCall+":"+c.CallID] = true
	}
	for _, l := range d.leads {
		seen[KindLead+":"+l.LeadID] = true
		seen[KindAttribution+":"+l.LeadID] = true
	}
	for _, dl := range d.deals {
		seen[KindDeal+":"+dl.DealID] = true
	}
	var gone []string
	for key := range p.Emitted {
		if !seen[key] {
			gone = append(gone, key)
		}
	}
	sort.Slice(gone, func(i, j int) bool {
		return kindOrder(gone[i]) < kindOrder(gone[j]) || kindOrder(gone[i]) == kindOrder(gone[j]) && gone[i] < gone[j]
	})
	for _, key := range gone {
		kind, id, _ := strings.Cut(key, ":")
		delete(p.Emitted, key)
		if kind == KindAttribution {
			out = append(out, a.deleteAttribution(id, 0, p.AttrRows[id])...)
			delete(p.AttrRows, id)
			continue
		}
		out = append(out, a.deletion(kind, id))
	}
	return out
}

// put appends a new version of entity kind:id to out unless its content
// hash h is that of the version emitted last.
func (a *Account) put(p *Person, out []Record, kind, id string, v any, meta *entity.Meta, h uint64) []Record {
	var buf [64]byte
	key := append(append(append(buf[:0], kind...), ':'), id...)
	if old, ok := p.Emitted[string(key)]; ok && old == h {
		return out
	}
	p.Emitted[string(key)] = h
	a.meta.Seq++
	meta.Version = a.meta.Seq
	return append(out, Record{Kind: kind, ID: id, Value: v})
}

func (a *Account) restateAttribution(p *Person, leadID string, rows []*entity.Attribution) []Record {
	var buf [64]byte
	key := append(append(buf[:0], KindAttribution+":"...), leadID...)
	h := fpAttribution(rows)
	if old, ok := p.Emitted[string(key)]; ok && old == h {
		return nil
	}
	p.Emitted[string(key)] = h
	var out []Record
	for _, r := range rows {
		a.meta.Seq++
		r.Version = a.meta.Seq
		out = append(out, Record{Kind: KindAttribution, ID: r.ID(), Value: r})
	}
	touches := 0
	if len(rows) > 0 {
		touches = rows[0].Touches
	}
	out = append(out, a.deleteAttribution(leadID, touches, p.AttrRows[leadID])...)
	p.setAttrRows(leadID, touches)
	return out
}

// deleteAttribution supersedes a lead's rows with touch index in [from, to).
func (a *Account) deleteAttribution(leadID string, from, to int) []Record {
	var out []Record
	for _, m := range attribution.Models {
		for i := from; i < to; i++ {
			a.meta.Seq++
			r := &entity.Attribution{Meta: a.deletedMeta(), LeadID: leadID, Model: m, Touch: i}
			out = append(out, Record{Kind: KindAttribution, ID: r.ID(), Value: r})
		}
	}
	return out
}

func (a *Account) deletedMeta() entity.Meta {
	return entity.Meta{Tenant: a.Tenant, Account: a.Account, Version: a.meta.Seq, Deleted: true}
}

func (a *Account) deletion(kind, id string) Record {
	a.meta.Seq++
	m := a.deletedMeta()
	var v any
	switch kind {
	case KindSession:
		v = &entity.Session{Meta: m, SessionID: id}
	case KindCall:
		v = &entity.Call{Meta: m, CallID: id}
	case KindLead:
		v = &entity.Lead{Meta: m, LeadID: id}
	case KindDeal:
		v = &entity.Deal{Meta: m, DealID: id}
	}
	return Record{Kind: kind, ID: id, Value: v}
}

func kindOrder(key string) int {
	for i, k := range []string{KindSession, KindCall, KindLead, KindDeal, KindAttribution} {
		if strings.HasPrefix(key, k+":") {
			return i
		}
	}
	return 9
}
