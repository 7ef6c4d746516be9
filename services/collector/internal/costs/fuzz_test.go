package costs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

// checkReport holds for every upload: no panic; errors name a field; what is
// accepted is a valid day of non-negative spend whose envelopes validate.
func checkReport(t *testing.T, body []byte, o Options) {
	o.Currency = "RUB"
	o.MaxRows = 1000
	rows, err := Parse(body, o)
	if err != nil {
		var fe *event.FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("error without a field: %v", err)
		}
		return
	}
	for i, r := range rows {
		if _, err := time.Parse("2006-01-02", r.Date); err != nil || r.Amount < 0 || r.Clicks < 0 || r.Impressions < 0 {
			t.Fatalf("row %d accepted malformed: %+v", i, r)
		}
		if len(r.Campaign) > event.MaxShort || len(r.Channel) > event.MaxShort {
			t.Fatalf("row %d: over-long label accepted", i)
		}
	}
	out, commits, err := Envelopes(rows, Import{ID: "imp-f", Tenant: "t", Account: "a", Channel: "c", Currency: "RUB",
		Format: o.Format, ReceivedAt: time.Unix(1772349300, 0)})
	if err != nil {
		var fe *event.FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("envelopes error without a field: %v", err)
		}
		return
	}
	for _, e := range append(out, commits...) {
		if err := e.Validate(); err != nil {
			t.Fatalf("envelope invalid: %v", err)
		}
	}
}

func seed(f *testing.F, dir string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzGenericCosts(f *testing.F) {
	seed(f, "generic")
	f.Fuzz(func(t *testing.T, body []byte) { checkReport(t, body, Options{Format: "generic"}) })
}

func FuzzYandex(f *testing.F) {
	seed(f, "yandex")
	f.Fuzz(func(t *testing.T, body []byte) {
		checkReport(t, body, Options{Format: "yandex"})
		checkReport(t, body, Options{Format: "yandex", PlainMoney: true})
	})
}

func FuzzGoogle(f *testing.F) {
	seed(f, "google")
	f.Fuzz(func(t *testing.T, body []byte) { checkReport(t, body, Options{Format: "google"}) })
}

func FuzzVK(f *testing.F) {
	seed(f, "vk")
	f.Fuzz(func(t *testing.T, body []byte) { checkReport(t, body, Options{Format: "vk"}) })
}

// FuzzMoney checks parseMoney against its own rendering: an amount it reads
// and prints back in major units reads the same again.
func FuzzMoney(f *testing.F) {
	for _, s := range []string{"1234.56", "1 234,56", "0.005", "-1", ".5", "1,234.56", "99"} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, s string, exp int) {
		exp = ((exp % 4) + 4) % 4
		v, err := parseMoney(s, exp)
		if err != nil {
			return
		}
		p := pow10(exp)
		abs := v
		sign := ""
		if v < 0 {
			abs, sign = -v, "-"
		}
		text := sign + itoa(abs/p)
		if exp > 0 {
			frac := itoa(abs % p)
			for len(frac) < exp {
				frac = "0" + frac
			}
			text += "." + frac
		}
		if w, err := parseMoney(text, exp); err != nil || w != v {
			t.Fatalf("%q → %d → %q → %d, %v", s, v, text, w, err)
		}
	})
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func FuzzMeta(f *testing.F) {
	seed(f, "meta")
	f.Fuzz(func(t *testing.T, body []byte) { checkReport(t, body, Options{Format: "meta"}) })
}
