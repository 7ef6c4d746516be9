package stitch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"

	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/lead"
	"github.com/throughline/throughline/services/stitcher/internal/session"
)

// A person's changelog value is binary: a format byte, then its fields in a
// fixed order — strings and lists length-prefixed (uvarint), integers as
// zigzag varints, hit and change times as deltas from the previous one,
// content hashes as 8 bytes, map entries in key order (so equal state gives
// equal bytes). A value starting with '{' is the JSON form written by
// earlier versions, and is still read. Encoding it costs a fraction of
// encoding/json's time and space; it is written for every person a
// transaction touched. Format 2 adds a deal change's units (8 bytes, the
// float's bits, after its call id); format 1 values are still read.
const (
	personFormatV1 = 0x01
	personFormatV2 = 0x02
)

var errPersonValue = errors.New("malformed person value")

// encodePerson appends p's changelog value to b.
func encodePerson(b []byte, p *Person) []byte {
	w := writer{b: append(b, personFormatV2)}
	var scratch [8]string // the maps' sorted keys, on the stack for a small person
	w.str(p.ID)
	w.strs(p.Keys)
	w.uint(uint64(len(p.Clients)))
	for _, id := range appendSortedKeys(scratch[:0], p.Clients) {
		c := p.Clients[id]
		w.str(id)
		w.uint(uint64(len(c.Hits)))
		var last int64
		for _, h := range c.Hits {
			w.int(h.TS - last)
			last = h.TS
			w.str(h.ID)
			w.str(h.Page)
			w.int(int64(h.Src))
		}
		w.uint(uint64(len(c.Origins)))
		for _, o := range c.Origins {
			w.source(o.Source)
			w.str(o.Referrer)
		}
	}
	w.uint(uint64(len(p.Calls)))
	for _, c := range p.Calls {
		w.int(c.TS)
		w.str(c.EventID)
		w.str(c.CallID)
		w.str(c.Provider)
		w.str(c.Caller)
		w.str(c.TrackingNumber)
		w.bool(c.Answered)
		w.int(int64(c.TalkSec))
		w.int(int64(c.WaitSec))
		w.strs(c.ClientIDs)
		w.str(c.Channel)
		w.str(c.RecordingURL)
	}
	w.uint(uint64(len(p.Contacts)))
	for _, c := range p.Contacts {
		w.int(c.TS)
		w.str(c.ID)
		w.str(c.Kind)
		w.str(c.ClientID)
		w.str(c.CallID)
		w.str(c.CRMLeadID)
	}
	w.uint(uint64(len(p.Deals)))
	for _, k := range appendSortedKeys(scratch[:0], p.Deals) {
		d := p.Deals[k]
		w.str(k)
		w.str(d.Provider)
		w.str(d.CRMID)
		w.uint(uint64(len(d.Changes)))
		var last int64
		for _, c := range d.Changes {
			w.int(c.At - last)
			last = c.At
			w.int(c.TS - c.At)
			w.str(c.EventID)
			w.str(c.Pipeline)
			w.str(c.Stage)
			w.str(c.Outcome)
			w.int(c.Amount)
			w.str(c.Currency)
			w.str(c.CRMLeadID)
			w.str(c.CallID)
			w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(c.Units))
		}
	}
	w.int(p.LastTS)
	w.uint(uint64(len(p.Emitted)))
	for _, k := range appendSortedKeys(scratch[:0], p.Emitted) {
		w.str(k)
		w.b = binary.LittleEndian.AppendUint64(w.b, p.Emitted[k])
	}
	w.uint(uint64(len(p.AttrRows)))
	for _, k := range appendSortedKeys(scratch[:0], p.AttrRows) {
		w.str(k)
		w.int(int64(p.AttrRows[k]))
	}
	return w.b
}

// decodePerson reads a changelog value into p (fresh from newPerson): the
// binary form, or the JSON form of earlier versions.
func decodePerson(v []byte, p *Person) error {
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, p)
	}
	if len(v) == 0 || v[0] != personFormatV1 && v[0] != personFormatV2 {
		return errPersonValue
	}
	v2 := v[0] == personFormatV2
	r := reader{b: v[1:]}
	p.ID = r.str()
	p.Keys = r.strs()
	if n := r.count(); n > 0 {
		p.Clients = make(map[string]*Client, n)
		for range n {
			id := r.str()
			c := &Client{}
			if m := r.count(); m > 0 {
				c.Hits = make([]session.Hit, m)
				var last int64
				for i := range c.Hits {
					last += r.int()
					c.Hits[i] = session.Hit{TS: last, ID: r.str(), Page: r.str(), Src: r.int32()}
				}
			}
			if m := r.count(); m > 0 {
				c.Origins = make([]session.Origin, m)
				for i := range c.Origins {
					c.Origins[i] = session.Origin{Source: r.source(), Referrer: r.str()}
				}
			}
			p.Clients[id] = c
		}
	}
	if n := r.count(); n > 0 {
		p.Calls = make([]lead.Call, n)
		for i := range p.Calls {
			p.Calls[i] = lead.Call{TS: r.int(), EventID: r.str(), CallID: r.str(), Provider: r.str(), Caller: r.str(),
				TrackingNumber: r.str(), Answered: r.bool(), TalkSec: r.intN(), WaitSec: r.intN(), ClientIDs: r.strs(),
				Channel: r.str(), RecordingURL: r.str()}
		}
	}
	if n := r.count(); n > 0 {
		p.Contacts = make([]lead.Contact, n)
		for i := range p.Contacts {
			p.Contacts[i] = lead.Contact{TS: r.int(), ID: r.str(), Kind: r.str(), ClientID: r.str(), CallID: r.str(), CRMLeadID: r.str()}
		}
	}
	if n := r.count(); n > 0 {
		p.Deals = make(map[string]*lead.Deal, n)
		for range n {
			k := r.str()
			d := &lead.Deal{Provider: r.str(), CRMID: r.str()}
			if m := r.count(); m > 0 {
				d.Changes = make([]lead.Change, m)
				var last int64
				for i := range d.Changes {
					last += r.int()
					d.Changes[i] = lead.Change{At: last, TS: last + r.int(), EventID: r.str(), Pipeline: r.str(), Stage: r.str(),
						Outcome: r.str(), Amount: r.int(), Currency: r.str(), CRMLeadID: r.str(), CallID: r.str()}
					if v2 {
						d.Changes[i].Units = math.Float64frombits(r.uint64())
					}
				}
			}
			p.Deals[k] = d
		}
	}
	p.LastTS = r.int()
	n := r.count()
	p.Emitted = make(map[string]uint64, n)
	for range n {
		k := r.str()
		p.Emitted[k] = r.uint64()
	}
	if n = r.count(); n > 0 {
		p.AttrRows = make(map[string]int, n)
	}
	for range n {
		k := r.str()
		p.AttrRows[k] = r.intN()
	}
	if r.bad || len(r.b) != 0 {
		return errPersonValue
	}
	return nil
}

type writer struct{ b []byte }

func (w *writer) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }

func (w *writer) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) strs(s []string) {
	w.uint(uint64(len(s)))
	for _, v := range s {
		w.str(v)
	}
}

func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *writer) source(s channel.Source) {
	for _, v := range [...]string{s.Channel, s.Source, s.Medium, s.Campaign, s.Content, s.Term, s.ClickParam, s.ClickID} {
		w.str(v)
	}
}

// reader reads what writer wrote; a short or malformed input sets bad and
// yields zero values from then on.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) intN() int {
	v := r.int()
	if int64(int(v)) != v {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *reader) int32() int32 {
	v := r.int()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail()
		return 0
	}
	return int32(v)
}

// count reads a length that the rest of the input can hold (every element
// takes at least a byte), so a corrupt length cannot ask for a huge slice.
func (r *reader) count() int {
	v := r.uint()
	if v > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *reader) str() string {
	n := r.count()
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) strs() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

func (r *reader) bool() bool {
	if len(r.b) == 0 || r.b[0] > 1 {
		r.fail()
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *reader) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) source() channel.Source {
	return channel.Source{Channel: r.str(), Source: r.str(), Medium: r.str(), Campaign: r.str(), Content: r.str(),
		Term: r.str(), ClickParam: r.str(), ClickID: r.str()}
}

func (r *reader) fail() {
	r.bad = true
	r.b = nil
}
