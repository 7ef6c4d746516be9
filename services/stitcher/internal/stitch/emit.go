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
	var out []Record
	seen := map[string]bool{}
	put := func(kind, id string, v any, meta *entity.Meta, h uint64) {
		key := kind + ":" + id
		seen[key] = true
		if old, ok := p.Emitted[key]; ok && old == h {
			return
		}
		p.Emitted[key] = h
		a.meta.Seq++
		meta.Version = a.meta.Seq
		out = append(out, Record{Kind: kind, ID: id, Value: v})
	}
	for _, s := range d.sessions {
		put(KindSession, s.SessionID, s, &s.Meta, fpSession(s))
	}
	for _, c := range d.calls {
		put(KindCall, c.CallID, c, &c.Meta, fpCall(c))
	}
	for _, l := range d.leads {
		put(KindLead, l.LeadID, l, &l.Meta, fpLead(l))
	}
	for _, dl := range d.deals {
		put(KindDeal, dl.DealID, dl, &dl.Meta, fpDeal(dl))
	}
	for _, l := range d.leads {
		out = append(out, a.restateAttribution(p, l.LeadID, d.attr[l.LeadID], seen)...)
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

func (a *Account) restateAttribution(p *Person, leadID string, rows []*entity.Attribution, seen map[string]bool) []Record {
	key := KindAttribution + ":" + leadID
	seen[key] = true
	h := fpAttribution(rows)
	if old, ok := p.Emitted[key]; ok && old == h {
		return nil
	}
	p.Emitted[key] = h
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
	p.AttrRows[leadID] = touches
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
