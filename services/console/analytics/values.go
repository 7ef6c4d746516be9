package analytics

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Values of a chstore.Result: numbers come as json.Number, 64-bit integers
// as quoted strings.

func toString(v any) string {
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

func toInt64(v any) int64 {
	n, _ := strconv.ParseInt(toString(v), 10, 64)
	return n
}

func toUint64(v any) uint64 {
	n, _ := strconv.ParseUint(toString(v), 10, 64)
	return n
}

func toFloat(v any) float64 {
	f, _ := strconv.ParseFloat(toString(v), 64)
	return f
}
