package chstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Values of a Result's rows: numbers come as json.Number, 64-bit integers as
// quoted strings (ClickHouse's JSON output). The As* helpers read either; a
// value that does not parse reads as zero.

// AsString is v as text.
func AsString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

// AsInt64 is v as a signed integer.
func AsInt64(v any) int64 {
	n, _ := strconv.ParseInt(AsString(v), 10, 64)
	return n
}

// AsUint64 is v as an unsigned integer.
func AsUint64(v any) uint64 {
	n, _ := strconv.ParseUint(AsString(v), 10, 64)
	return n
}

// AsFloat64 is v as a float.
func AsFloat64(v any) float64 {
	f, _ := strconv.ParseFloat(AsString(v), 64)
	return f
}

// StringArray is an Array(String) query-parameter value: ['a','b'].
func StringArray(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\'')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s))
		b.WriteByte('\'')
	}
	b.WriteByte(']')
	return b.String()
}
