package chstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// encoder appends values of one ClickHouse type in RowBinary form.
type encoder func(buf []byte, v any) ([]byte, error)

// encoderFor returns the RowBinary encoder for a ClickHouse type. It covers
// the types Throughline's tables use; anything else is an error at prepare
// time, not a silent mis-encoding at run time.
func encoderFor(typ string) (encoder, error) {
	t := strings.TrimSpace(typ)
	if inner, ok := unwrap(t, "LowCardinality"); ok {
		return encoderFor(inner)
	}
	if inner, ok := unwrap(t, "Nullable"); ok {
		enc, err := encoderFor(inner)
		if err != nil {
			return nil, err
		}
		return func(buf []byte, v any) ([]byte, error) {
			if v == nil {
				return append(buf, 1), nil
			}
			return enc(append(buf, 0), v)
		}, nil
	}
	if inner, ok := unwrap(t, "Array"); ok {
		if inner != "String" && !strings.HasPrefix(inner, "LowCardinality(String") {
			return nil, fmt.Errorf("unsupported type %s", typ)
		}
		return encStrings, nil
	}
	if inner, ok := unwrap(t, "Map"); ok {
		if strings.ReplaceAll(inner, " ", "") != "String,String" && !strings.Contains(inner, "LowCardinality(String),String") {
			return nil, fmt.Errorf("unsupported type %s", typ)
		}
		return encMap, nil
	}
	if inner, ok := unwrap(t, "DateTime64"); ok {
		scale, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(inner, ",", 2)[0]))
		if err != nil || scale < 0 || scale > 9 {
			return nil, fmt.Errorf("unsupported type %s", typ)
		}
		return encDateTime64(scale), nil
	}
	if inner, ok := unwrap(t, "Decimal"); ok {
		parts := strings.Split(inner, ",")
		if len(parts) != 2 {
			return nil, fmt.Errorf("unsupported type %s", typ)
		}
		p, err1 := strconv.Atoi(strings.TrimSpace(parts[0]))
		s, err2 := strconv.Atoi(strings.TrimSpace(parts[1]))
		if err1 != nil || err2 != nil || p > 18 {
			return nil, fmt.Errorf("unsupported type %s (Decimal up to precision 18)", typ)
		}
		return encDecimal64(s), nil
	}
	if strings.HasPrefix(t, "DateTime(") || t == "DateTime" {
		return encDateTime, nil
	}
	switch t {
	case "String":
		return encString, nil
	case "Bool":
		return encBool, nil
	case "UInt8", "Int8":
		return encInt(1), nil
	case "UInt16", "Int16":
		return encInt(2), nil
	case "UInt32", "Int32":
		return encInt(4), nil
	case "UInt64", "Int64":
		return encInt(8), nil
	case "Float64":
		return encFloat64, nil
	case "Float32":
		return encFloat32, nil
	case "Date":
		return encDate, nil
	}
	return nil, fmt.Errorf("unsupported type %s", typ)
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

func encString(buf []byte, v any) ([]byte, error) {
	switch s := v.(type) {
	case string:
		return appendString(buf, s), nil
	case []byte:
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		return append(buf, s...), nil
	}
	return nil, fmt.Errorf("want string, got %T", v)
}

func encStrings(buf []byte, v any) ([]byte, error) {
	ss, ok := v.([]string)
	if !ok {
		return nil, fmt.Errorf("want []string, got %T", v)
	}
	buf = binary.AppendUvarint(buf, uint64(len(ss)))
	for _, s := range ss {
		buf = appendString(buf, s)
	}
	return buf, nil
}

func encMap(buf []byte, v any) ([]byte, error) {
	m, ok := v.(map[string]string)
	if !ok {
		return nil, fmt.Errorf("want map[string]string, got %T", v)
	}
	buf = binary.AppendUvarint(buf, uint64(len(m)))
	for k, val := range m {
		buf = appendString(buf, k)
		buf = appendString(buf, val)
	}
	return buf, nil
}

func encBool(buf []byte, v any) ([]byte, error) {
	b, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf("want bool, got %T", v)
	}
	if b {
		return append(buf, 1), nil
	}
	return append(buf, 0), nil
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

func encInt(size int) encoder {
	return func(buf []byte, v any) ([]byte, error) {
		n, err := toUint64(v)
		if err != nil {
			return nil, err
		}
		switch size {
		case 1:
			return append(buf, byte(n)), nil
		case 2:
			return binary.LittleEndian.AppendUint16(buf, uint16(n)), nil
		case 4:
			return binary.LittleEndian.AppendUint32(buf, uint32(n)), nil
		}
		return binary.LittleEndian.AppendUint64(buf, n), nil
	}
}

func encFloat64(buf []byte, v any) ([]byte, error) {
	switch f := v.(type) {
	case float64:
		return binary.LittleEndian.AppendUint64(buf, math.Float64bits(f)), nil
	case float32:
		return binary.LittleEndian.AppendUint64(buf, math.Float64bits(float64(f))), nil
	}
	return nil, fmt.Errorf("want float64, got %T", v)
}

func encFloat32(buf []byte, v any) ([]byte, error) {
	switch f := v.(type) {
	case float32:
		return binary.LittleEndian.AppendUint32(buf, math.Float32bits(f)), nil
	case float64:
		return binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(f))), nil
	}
	return nil, fmt.Errorf("want float32, got %T", v)
}

// encDateTime64 takes a time.Time, or an int64 of Unix milliseconds.
func encDateTime64(scale int) encoder {
	return func(buf []byte, v any) ([]byte, error) {
		var ticks int64
		switch t := v.(type) {
		case time.Time:
			ticks = t.UnixNano() / int64(math.Pow10(9-scale))
		case int64:
			ticks = t * int64(math.Pow10(scale)) / 1000
		default:
			return nil, fmt.Errorf("want time.Time or int64 ms, got %T", v)
		}
		return binary.LittleEndian.AppendUint64(buf, uint64(ticks)), nil
	}
}

func encDateTime(buf []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return nil, fmt.Errorf("want time.Time, got %T", v)
	}
	return binary.LittleEndian.AppendUint32(buf, uint32(t.Unix())), nil
}

func encDate(buf []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return nil, fmt.Errorf("want time.Time, got %T", v)
	}
	return binary.LittleEndian.AppendUint16(buf, uint16(t.Unix()/86400)), nil
}

// encDecimal64 takes an int64 already scaled by 10^scale, or a float64.
func encDecimal64(scale int) encoder {
	return func(buf []byte, v any) ([]byte, error) {
		var n int64
		switch d := v.(type) {
		case int64:
			n = d
		case float64:
			n = int64(math.Round(d * math.Pow10(scale)))
		default:
			return nil, fmt.Errorf("want int64 (scaled) or float64, got %T", v)
		}
		return binary.LittleEndian.AppendUint64(buf, uint64(n)), nil
	}
}
