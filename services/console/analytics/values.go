package analytics

import "github.com/throughline/throughline/pkg/chstore"

// Values of a chstore.Result (see chstore.AsString).

func toString(v any) string         { return chstore.AsString(v) }
func toInt64(v any) int64           { return chstore.AsInt64(v) }
func toFloat(v any) float64         { return chstore.AsFloat64(v) }
func arrayParam(ss []string) string { return chstore.StringArray(ss) }
