package entity

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

type appender interface {
	AppendJSON([]byte) ([]byte, error)
}

func records() []appender {
	return []appender{&Session{}, &Call{}, &Lead{}, &Deal{}, &Attribution{}}
}

var oddStrings = []string{"", "a", "yandex", "https://s.ru/?a=1&b=<2>", `q"uote\back`, "tab\tnl\ncr\r\b\f\x00\x1f\x7f",
	"ключ значение", "\u2028\u2029", "bad\xffutf8\xc3", "\xed\xa0\x80", "€𝄞", "</script>", "'single'"}

var oddFloats = []float64{0, 1, -1, 0.5, 1.0 / 3, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e300, -2.5e-300, 123456.789,
	math.SmallestNonzeroFloat64, math.MaxFloat64, math.Copysign(0, -1)}

// fill sets every field of *v (and of the embedded Meta) from rng.
func fill(v reflect.Value, rng *rand.Rand, str func() string, flt func() float64) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			fill(f, rng, str, flt)
		case reflect.String:
			f.SetString(str())
		case reflect.Int, reflect.Int64:
			switch rng.IntN(4) {
			case 0:
				f.SetInt(0)
			case 1:
				f.SetInt(rng.Int64() - math.MaxInt64/2)
			default:
				f.SetInt(rng.Int64N(2000) - 100)
			}
		case reflect.Uint64:
			f.SetUint(rng.Uint64() >> rng.IntN(64))
		case reflect.Bool:
			f.SetBool(rng.IntN(2) == 0)
		case reflect.Float64:
			f.SetFloat(flt())
		default:
			panic("fill: field kind " + f.Kind().String())
		}
	}
}

func check(t *testing.T, r appender) {
	t.Helper()
	want, werr := json.Marshal(r)
	got, gerr := r.AppendJSON([]byte("prefix"))
	if werr != nil || gerr != nil {
		if werr == nil || !errors.Is(gerr, ErrUnsupportedFloat) {
			t.Fatalf("%T %+v: AppendJSON error %v, Marshal error %v", r, r, gerr, werr)
		}
		return
	}
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("%T:\nAppendJSON %s\nMarshal    prefix%s", r, got, want)
	}
}

// TestAppendJSONEqualsMarshal fills every field of every record with values
// that probe escaping, omitempty and number formatting, and compares.
func TestAppendJSONEqualsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return oddStrings[rng.IntN(len(oddStrings))]
	}
	flt := func() float64 {
		if rng.IntN(2) == 0 {
			return oddFloats[rng.IntN(len(oddFloats))]
		}
		return math.Float64frombits(rng.Uint64())
	}
	for range 20000 {
		for _, r := range records() {
			fill(reflect.ValueOf(r).Elem(), rng, str, flt)
			check(t, r)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	for i, s := range oddStrings {
		f.Add(s, int64(i)*7919-3, oddFloats[i%len(oddFloats)], uint64(i))
	}
	f.Fuzz(func(t *testing.T, s string, n int64, x float64, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(n)))
		str := func() string {
			if k := rng.IntN(len(s) + 1); rng.IntN(2) == 0 {
				return s[:k]
			} else {
				return s[k:]
			}
		}
		flt := func() float64 {
			if rng.IntN(2) == 0 {
				return x
			}
			return x * float64(rng.Int64N(1000)-500)
		}
		for _, r := range records() {
			fill(reflect.ValueOf(r).Elem(), rng, str, flt)
			check(t, r)
		}
	})
}
