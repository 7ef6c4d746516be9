package chstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The embedded store stages a batch as one block of ClickHouse's Native
// format: column after column, which the engine reads many times faster than
// RowBinary (it copies whole columns instead of parsing value by value).
// LowCardinality columns are written as their plain type; the INSERT converts
// them. A row is checked in full before any of it is added, so a value of a
// wrong type leaves the batch as it was.

// nativeColumn builds one column of a Native block.
type nativeColumn interface {
	check(v any) error // nil if add accepts v
	add(v any)         // appends a checked value
	addZero()          // appends the type's default (under a NULL)
	parts() [][]byte   // the column's bytes, in order
}

// nativeColumnFor returns a builder for a ClickHouse type and the type the
// block declares for it.
func nativeColumnFor(typ string) (nativeColumn, string, error) {
	t := plainType(strings.TrimSpace(typ))
	if inner, ok := unwrap(t, "Nullable"); ok {
		col, it, err := nativeColumnFor(inner)
		if err != nil {
			return nil, "", err
		}
		return &nullableColumn{inner: col}, "Nullable(" + it + ")", nil
	}
	if inner, ok := unwrap(t, "Array"); ok {
		if strings.TrimSpace(inner) != "String" {
			return nil, "", fmt.Errorf("unsupported type %s", typ)
		}
		return &arrayColumn{}, "Array(String)", nil
	}
	if inner, ok := unwrap(t, "Map"); ok {
		if strings.ReplaceAll(inner, " ", "") != "String,String" {
			return nil, "", fmt.Errorf("unsupported type %s", typ)
		}
		return &mapColumn{}, "Map(String, String)", nil
	}
	if inner, ok := unwrap(t, "DateTime64"); ok {
		scale, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(inner, ",", 2)[0]))
		if err != nil || scale < 0 || scale > 9 {
			return nil, "", fmt.Errorf("unsupported type %s", typ)
		}
		col := &fixedColumn{size: 8, conv: dateTime64Ticks(scale), scale: -1, nonInteger: true}
		if scale >= 3 {
			col.scale, col.milliTicks = scale, int64(math.Pow10(scale-3))
		}
		return col, t, nil
	}
	if inner, ok := unwrap(t, "Decimal"); ok {
		parts := strings.Split(inner, ",")
		if len(parts) != 2 {
			return nil, "", fmt.Errorf("unsupported type %s", typ)
		}
		p, err1 := strconv.Atoi(strings.TrimSpace(parts[0]))
		s, err2 := strconv.Atoi(strings.TrimSpace(parts[1]))
		if err1 != nil || err2 != nil || p > 18 {
			return nil, "", fmt.Errorf("unsupported type %s (Decimal up to precision 18)", typ)
		}
		return &fixedColumn{size: 8, conv: decimal64(s), scale: -1, nonInteger: true}, t, nil
	}
	if strings.HasPrefix(t, "DateTime(") || t == "DateTime" {
		return &fixedColumn{size: 4, conv: unixSeconds, scale: -1, nonInteger: true}, t, nil
	}
	switch t {
	case "String":
		return &stringColumn{}, t, nil
	case "Bool", "UInt8", "Int8":
		return &fixedColumn{size: 1, conv: toUint64, scale: -1}, t, nil
	case "UInt16", "Int16":
		return &fixedColumn{size: 2, conv: toUint64, scale: -1}, t, nil
	case "UInt32", "Int32":
		return &fixedColumn{size: 4, conv: toUint64, scale: -1}, t, nil
	case "UInt64", "Int64":
		return &fixedColumn{size: 8, conv: toUint64, scale: -1}, t, nil
	case "Float64":
		return &fixedColumn{size: 8, conv: float64Bits, scale: -1, nonInteger: true}, t, nil
	case "Float32":
		return &fixedColumn{size: 4, conv: float32Bits, scale: -1, nonInteger: true}, t, nil
	case "Date":
		return &fixedColumn{size: 2, conv: unixDays, scale: -1, nonInteger: true}, t, nil
	}
	return nil, "", fmt.Errorf("unsupported type %s", typ)
}

// plainType removes LowCardinality(…) wrappers anywhere in a type.
func plainType(t string) string {
	const lc = "LowCardinality("
	for {
		i := strings.Index(t, lc)
		if i < 0 {
			return t
		}
		depth, j := 1, i+len(lc)
		for ; j < len(t) && depth > 0; j++ {
			switch t[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth != 0 {
			return t
		}
		t = t[:i] + t[i+len(lc):j-1] + t[j:]
	}
}

func unwrap(t, name string) (string, bool) {
	if strings.HasPrefix(t, name+"(") && strings.HasSuffix(t, ")") {
		return t[len(name)+1 : len(t)-1], true
	}
	return "", false
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// chunked is a byte buffer grown by adding chunks rather than by copying,
// so large string columns are built without re-copying what they hold.
// Chunks double from 4 KiB up to 1 MiB.
type chunked struct {
	full [][]byte
	cur  []byte
	size int // bytes in full
}

// reserve makes room for n more bytes in cur.
func (c *chunked) reserve(n int) {
	if cap(c.cur)-len(c.cur) >= n {
		return
	}
	if len(c.cur) > 0 {
		c.full = append(c.full, c.cur)
		c.size += len(c.cur)
	}
	c.cur = make([]byte, 0, max(min(max(c.size, 4<<10), 1<<20), n))
}

func (c *chunked) appendString(s string) {
	c.reserve(len(s) + binary.MaxVarintLen64)
	c.cur = appendString(c.cur, s)
}

func (c *chunked) appendBytes(b []byte) {
	c.reserve(len(b) + binary.MaxVarintLen64)
	c.cur = binary.AppendUvarint(c.cur, uint64(len(b)))
	c.cur = append(c.cur, b...)
}

func (c *chunked) parts() [][]byte { return append(c.full[:len(c.full):len(c.full)], c.cur) }

// stringColumn takes string, []byte or *string (a pointer boxes into an
// interface without an allocation, which matters at millions of values).
type stringColumn struct{ buf chunked }

func (c *stringColumn) check(v any) error {
	switch v.(type) {
	case string, []byte, *string:
		return nil
	}
	return fmt.Errorf("want string, got %T", v)
}

func (c *stringColumn) add(v any) {
	switch s := v.(type) {
	case string:
		c.buf.appendString(s)
	case *string:
		c.buf.appendString(*s)
	case []byte:
		c.buf.appendBytes(s)
	}
}

func (c *stringColumn) addZero()        { c.buf.appendString("") }
func (c *stringColumn) parts() [][]byte { return c.buf.parts() }

// fixedColumn holds fixed-width little-endian values.
type fixedColumn struct {
	size int
	conv func(any) (uint64, error)
	buf  []byte
	// For typed rows (RowWriter): scale is a DateTime64's (-1 for other
	// types) and milliTicks its ticks per millisecond; nonInteger marks
	// the other types that are not integers (floats, dates, decimals).
	scale      int
	milliTicks int64
	nonInteger bool
}

func (c *fixedColumn) check(v any) error { _, err := c.conv(v); return err }

func (c *fixedColumn) add(v any) {
	n, _ := c.conv(v)
	c.appendFixed(n)
}

func (c *fixedColumn) addZero()        { c.buf = append(c.buf, make([]byte, c.size)...) }
func (c *fixedColumn) parts() [][]byte { return [][]byte{c.buf} }

// nullableColumn is a null map followed by the inner column, which holds a
// default value under each NULL.
type nullableColumn struct {
	nulls []byte
	inner nativeColumn
}

func (c *nullableColumn) check(v any) error {
	if v == nil {
		return nil
	}
	return c.inner.check(v)
}

func (c *nullableColumn) add(v any) {
	if v == nil {
		c.nulls = append(c.nulls, 1)
		c.inner.addZero()
		return
	}
	c.nulls = append(c.nulls, 0)
	c.inner.add(v)
}

func (c *nullableColumn) addZero()        { c.add(nil) }
func (c *nullableColumn) parts() [][]byte { return append([][]byte{c.nulls}, c.inner.parts()...) }

// arrayColumn is Array(String): cumulative end offsets, then the elements.
type arrayColumn struct {
	offsets []byte
	n       uint64
	elems   stringColumn
}

func (c *arrayColumn) check(v any) error {
	if _, ok := v.([]string); !ok {
		return fmt.Errorf("want []string, got %T", v)
	}
	return nil
}

func (c *arrayColumn) add(v any) {
	ss := v.([]string)
	for _, s := range ss {
		c.elems.buf.appendString(s)
	}
	c.n += uint64(len(ss))
	c.offsets = binary.LittleEndian.AppendUint64(c.offsets, c.n)
}

func (c *arrayColumn) addZero()        { c.add([]string(nil)) }
func (c *arrayColumn) parts() [][]byte { return append([][]byte{c.offsets}, c.elems.parts()...) }

// mapColumn is Map(String, String), stored as Array(Tuple(key, value)):
// cumulative end offsets, then all keys, then all values.
type mapColumn struct {
	offsets    []byte
	n          uint64
	keys, vals stringColumn
}

func (c *mapColumn) check(v any) error {
	if _, ok := v.(map[string]string); !ok {
		return fmt.Errorf("want map[string]string, got %T", v)
	}
	return nil
}

func (c *mapColumn) add(v any) {
	m := v.(map[string]string)
	for k, val := range m {
		c.keys.buf.appendString(k)
		c.vals.buf.appendString(val)
	}
	c.n += uint64(len(m))
	c.offsets = binary.LittleEndian.AppendUint64(c.offsets, c.n)
}

func (c *mapColumn) addZero() { c.add(map[string]string(nil)) }
func (c *mapColumn) parts() [][]byte {
	return append(append([][]byte{c.offsets}, c.keys.parts()...), c.vals.parts()...)
}

func toUint64(v any) (uint64, error) {
	switch n := v.(type) {
	case int:
		return uint64(n), nil
	case int8:
		return uint64(n), nil
	case int16:
		return uint64(n), nil
	case int32:
		return uint64(n), nil
	case int64:
		return uint64(n), nil
	case uint:
		return uint64(n), nil
	case uint8:
		return uint64(n), nil
	case uint16:
		return uint64(n), nil
	case uint32:
		return uint64(n), nil
	case uint64:
		return n, nil
	case bool:
		if n {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

func float64Bits(v any) (uint64, error) {
	switch f := v.(type) {
	case float64:
		return math.Float64bits(f), nil
	case float32:
		return math.Float64bits(float64(f)), nil
	}
	return 0, fmt.Errorf("want float64, got %T", v)
}

func float32Bits(v any) (uint64, error) {
	switch f := v.(type) {
	case float32:
		return uint64(math.Float32bits(f)), nil
	case float64:
		return uint64(math.Float32bits(float32(f))), nil
	}
	return 0, fmt.Errorf("want float32, got %T", v)
}

// dateTime64Ticks takes a time.Time, or an int64 of Unix milliseconds.
func dateTime64Ticks(scale int) func(any) (uint64, error) {
	return func(v any) (uint64, error) {
		switch t := v.(type) {
		case time.Time:
			return uint64(t.UnixNano() / int64(math.Pow10(9-scale))), nil
		case int64:
			return uint64(t * int64(math.Pow10(scale)) / 1000), nil
		}
		return 0, fmt.Errorf("want time.Time or int64 ms, got %T", v)
	}
}

func unixSeconds(v any) (uint64, error) {
	t, ok := v.(time.Time)
	if !ok {
		return 0, fmt.Errorf("want time.Time, got %T", v)
	}
	return uint64(uint32(t.Unix())), nil
}

func unixDays(v any) (uint64, error) {
	t, ok := v.(time.Time)
	if !ok {
		return 0, fmt.Errorf("want time.Time, got %T", v)
	}
	return uint64(uint16(t.Unix() / 86400)), nil
}

// decimal64 takes an int64 already scaled by 10^scale, or a float64.
func decimal64(scale int) func(any) (uint64, error) {
	return func(v any) (uint64, error) {
		switch d := v.(type) {
		case int64:
			return uint64(d), nil
		case float64:
			return uint64(int64(math.Round(d * math.Pow10(scale)))), nil
		}
		return 0, fmt.Errorf("want int64 (scaled) or float64, got %T", v)
	}
}
