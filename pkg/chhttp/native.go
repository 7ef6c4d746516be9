package chhttp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The engine writes the Native format at protocol revision 0: no block
// info, no serialization-kind byte per column. A client that sends
// client_protocol_version (clickhouse-go does) reads blocks at that
// revision, as a server writes them. nativeAtRevision rewrites the engine's
// blocks for such a client: the data of every column is copied unchanged,
// which needs only to know where each column ends, so the walk below skips
// values by type instead of decoding them.

// Revisions of the Native protocol that change a block's layout.
const (
	revisionWithBlockInfo           = 1 // any revision > 0
	revisionWithCustomSerialization = 54454
)

// nativeAtRevision rewrites revision-0 Native blocks for a client at rev.
// It also returns the number of rows.
func nativeAtRevision(src []byte, rev uint64) ([]byte, int64, error) {
	out := make([]byte, 0, len(src)+len(src)/64+64)
	r := &nativeReader{b: src}
	var rows int64
	for r.more() {
		head := r.off
		ncols, err := r.uvarint()
		if err != nil {
			return nil, 0, err
		}
		nrows, err := r.uvarint()
		if err != nil {
			return nil, 0, err
		}
		rows += int64(nrows)
		if rev >= revisionWithBlockInfo {
			// is_overflows = false, bucket_num = -1, end of fields.
			out = append(out, 1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0)
		}
		out = append(out, src[head:r.off]...) // the column and row counts
		for range ncols {
			start := r.off
			if _, err := r.str(); err != nil {
				return nil, 0, err
			}
			typ, err := r.str()
			if err != nil {
				return nil, 0, err
			}
			out = append(out, src[start:r.off]...)
			if rev >= revisionWithCustomSerialization {
				out = append(out, 0)
			}
			t, err := parseType(typ)
			if err != nil {
				return nil, 0, err
			}
			start = r.off
			if nrows > 0 {
				if err := r.skipPrefix(t); err != nil {
					return nil, 0, err
				}
				if err := r.skip(t, nrows); err != nil {
					return nil, 0, fmt.Errorf("column of type %s: %w", typ, err)
				}
			}
			out = append(out, src[start:r.off]...)
		}
	}
	return out, rows, nil
}

// nativeRows counts the rows of revision-0 Native blocks.
func nativeRows(src []byte) (int64, error) {
	_, n, err := nativeAtRevision(src, 0)
	return n, err
}

var errShort = errors.New("native block is cut short")

type nativeReader struct {
	b   []byte
	off int
}

func (r *nativeReader) more() bool { return r.off < len(r.b) }

func (r *nativeReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, errShort
	}
	r.off += n
	return v, nil
}

func (r *nativeReader) advance(n uint64) error {
	if n > uint64(len(r.b)-r.off) {
		return errShort
	}
	r.off += int(n)
	return nil
}

func (r *nativeReader) str() (string, error) {
	n, err := r.uvarint()
	if err != nil {
		return "", err
	}
	start := r.off
	if err := r.advance(n); err != nil {
		return "", err
	}
	return string(r.b[start:r.off]), nil
}

func (r *nativeReader) u64() (uint64, error) {
	if len(r.b)-r.off < 8 {
		return 0, errShort
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

// skipPrefix skips a column's serialization state prefix: LowCardinality
// writes its key version (UInt64) there, wherever it is nested.
func (r *nativeReader) skipPrefix(t *chType) error {
	switch t.name {
	case "LowCardinality":
		_, err := r.u64()
		return err
	case "Array", "Nullable", "Tuple", "Map":
		for _, a := range t.args {
			if err := r.skipPrefix(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// skip skips n values of type t.
func (r *nativeReader) skip(t *chType, n uint64) error {
	if size, ok := fixedSize(t); ok {
		return r.advance(n * size)
	}
	switch t.name {
	case "String":
		for range n {
			if _, err := r.str(); err != nil {
				return err
			}
		}
		return nil
	case "Nullable":
		if err := r.advance(n); err != nil { // the null map
			return err
		}
		return r.skip(t.args[0], n)
	case "Array", "Map":
		var total uint64
		for range n {
			v, err := r.u64()
			if err != nil {
				return err
			}
			total = v // offsets are cumulative
		}
		if t.name == "Array" {
			return r.skip(t.args[0], total)
		}
		for _, a := range t.args { // Map is Array(Tuple(K, V))
			if err := r.skip(a, total); err != nil {
				return err
			}
		}
		return nil
	case "Tuple":
		for _, a := range t.args {
			if err := r.skip(a, n); err != nil {
				return err
			}
		}
		return nil
	case "LowCardinality":
		return r.skipLowCardinality(t.args[0], n)
	}
	return fmt.Errorf("type %s is not served in Native at a client's protocol revision; use RowBinary, JSON or Parquet", t.raw)
}

// skipLowCardinality skips granules of a LowCardinality column: flags (key
// width in the low byte, bit 9: a dictionary follows), the dictionary's
// keys, then the indexes.
func (r *nativeReader) skipLowCardinality(inner *chType, n uint64) error {
	dict := inner
	if inner.name == "Nullable" {
		dict = inner.args[0]
	}
	for n > 0 {
		flags, err := r.u64()
		if err != nil {
			return err
		}
		if flags&(1<<9) != 0 {
			keys, err := r.u64()
			if err != nil {
				return err
			}
			if err := r.skip(dict, keys); err != nil {
				return err
			}
		}
		rows, err := r.u64()
		if err != nil {
			return err
		}
		if rows > n || rows == 0 {
			return fmt.Errorf("LowCardinality granule of %d rows where %d remain", rows, n)
		}
		if err := r.advance(rows * (1 << (flags & 0xff))); err != nil {
			return err
		}
		n -= rows
	}
	return nil
}

func fixedSize(t *chType) (uint64, bool) {
	switch t.name {
	case "UInt8", "Int8", "Bool", "Enum8", "Nothing":
		return 1, true
	case "UInt16", "Int16", "Date", "Enum16", "BFloat16":
		return 2, true
	case "UInt32", "Int32", "Float32", "DateTime", "Date32", "IPv4", "Decimal32", "Time":
		return 4, true
	case "UInt64", "Int64", "Float64", "DateTime64", "Decimal64", "Time64":
		return 8, true
	case "UInt128", "Int128", "UUID", "IPv6", "Decimal128":
		return 16, true
	case "UInt256", "Int256", "Decimal256":
		return 32, true
	case "FixedString":
		if len(t.args) == 1 {
			if n, err := strconv.ParseUint(t.args[0].raw, 10, 32); err == nil {
				return n, true
			}
		}
	case "Decimal":
		if len(t.args) >= 1 {
			p, err := strconv.Atoi(t.args[0].raw)
			if err == nil {
				switch {
				case p <= 9:
					return 4, true
				case p <= 18:
					return 8, true
				case p <= 38:
					return 16, true
				}
				return 32, true
			}
		}
	}
	if strings.HasPrefix(t.name, "Interval") {
		return 8, true
	}
	return 0, false
}

// chType is a parsed ClickHouse type: a name and its arguments (types, or
// literals kept raw). Tuple element names are dropped.
type chType struct {
	name string
	args []*chType
	raw  string
}

func parseType(s string) (*chType, error) {
	p := &typeParser{s: s}
	t, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	if strings.TrimSpace(p.s[p.i:]) != "" {
		return nil, fmt.Errorf("type %q: trailing text", s)
	}
	return t, nil
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// parse reads one type or argument up to the next top-level ',' or ')'.
func (p *typeParser) parse() (*chType, error) {
	p.space()
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '\'' { // a literal argument ('UTC', enum names)
		for p.i++; p.i < len(p.s) && p.s[p.i] != '\''; p.i++ {
			if p.s[p.i] == '\\' {
				p.i++
			}
		}
		p.i++
		// An enum's "'a' = 1" continues to the comma.
		for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ')' {
			p.i++
		}
		if p.i > len(p.s) {
			return nil, errShort
		}
		return &chType{raw: strings.TrimSpace(p.s[start:p.i])}, nil
	}
	for p.i < len(p.s) && p.s[p.i] != '(' && p.s[p.i] != ',' && p.s[p.i] != ')' {
		p.i++
	}
	word := strings.TrimSpace(p.s[start:p.i])
	// A named tuple element: "name Type".
	if sp := strings.LastIndexByte(word, ' '); sp >= 0 {
		word = word[sp+1:]
	}
	t := &chType{name: word}
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		for {
			a, err := p.parse()
			if err != nil {
				return nil, err
			}
			t.args = append(t.args, a)
			p.space()
			if p.i >= len(p.s) {
				return nil, errShort
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, fmt.Errorf("unexpected %q", p.s[p.i])
			}
			p.i++
		}
	}
	t.raw = strings.TrimSpace(p.s[start:p.i])
	return t, nil
}
