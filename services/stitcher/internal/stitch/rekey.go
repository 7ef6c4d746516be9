package stitch

import (
	"slices"
	"strings"

	"github.com/throughline/throughline/pkg/pii"
)

// rekey replaces the phone and e-mail keys of a person restored from the
// changelog, and the callers of its calls, by their hashes when they were
// stored in clear — state written before the tenant set its pii_salt. The
// collector publishes only hashes from then on, so without this a person
// seen before the switch would no longer match the same phone after it,
// and the changelog would keep the numbers in clear. It reports whether
// anything changed (the person must then be written back).
func rekey(p *Person, h *pii.Hasher) bool {
	changed := false
	for i, k := range p.Keys {
		kind, v, ok := strings.Cut(k, ":")
		if !ok || pii.IsHash(v) {
			continue
		}
		switch kind {
		case "p":
			p.Keys[i] = "p:" + h.Phone(v)
		case "e":
			p.Keys[i] = "e:" + h.Email(v)
		default:
			continue
		}
		changed = true
	}
	if changed {
		slices.Sort(p.Keys)
		p.Keys = slices.Compact(p.Keys)
	}
	for i := range p.Calls {
		if c := p.Calls[i].Caller; c != "" && !pii.IsHash(c) {
			p.Calls[i].Caller = h.Phone(c)
			changed = true
		}
	}
	return changed
}
