package phpform

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAmoCRMGroups(t *testing.T) {
	body := "account%5Bsubdomain%5D=acme&account%5Bid%5D=16700680" +
		"&leads%5Bstatus%5D%5B0%5D%5Bid%5D=31926520&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142" +
		"&leads[status][7][id]=2&leads[update][0][id]=3" +
		"&leads[status][0][custom_fields][0][name]=%D0%98%D1%81%D1%82%D0%BE%D1%87%D0%BD%D0%B8%D0%BA" +
		"&leads[status][0][custom_fields][0][values][0][value]=%D0%A1%D0%B0%D0%B9%D1%82+1"
	v, err := Parse(body, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Str("account", "subdomain"); got != "acme" {
		t.Fatalf("subdomain %q", got)
	}
	if got := v.Get("leads", "status").Keys(); strings.Join(got, ",") != "0,7" {
		t.Fatalf("status indices %v", got)
	}
	if got := v.Get("leads").Keys(); strings.Join(got, ",") != "status,update" {
		t.Fatalf("actions %v", got)
	}
	if got := v.Str("leads", "status", "0", "custom_fields", "0", "name"); got != "Источник" {
		t.Fatalf("name %q", got)
	}
	if got := v.Str("leads", "status", "0", "custom_fields", "0", "values", "0", "value"); got != "Сайт 1" {
		t.Fatalf("value %q", got)
	}
	if v.Has("leads", "delete") || v.Get("nope", "x") != nil || v.Str("leads") != "" {
		t.Fatal("missing paths must be nil")
	}
}

func TestParsePHPQuirks(t *testing.T) {
	v, err := Parse("a[]=x&a[]=y&a[5]=z&a[]=w&b=1&b[c]=2&d[e]=1&d=3&f[g=1&h[i]j=2&=7&[k]=8&m=%zz+1&&n", DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"a/0": "x", "a/1": "y", "a/5": "z", "a/6": "w", // [] appends after the largest index
		"b/c": "2", // a later array replaces a string
		"d":   "3", // a later string replaces an array
		"f[g": "1", // an unclosed bracket is part of the name
		"h/i": "2", // text after "]" is ignored
		"m":   "%zz 1",
		"n":   "",
	} {
		if got := v.Str(strings.Split(path, "/")...); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if v.Has("") || v.Len() != 7 {
		t.Fatalf("keys %v", v.Keys())
	}
}

func TestParseLimits(t *testing.T) {
	if _, err := Parse(strings.Repeat("a=1&", 11), Limits{MaxPairs: 10, MaxDepth: 4}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("pairs: %v", err)
	}
	if _, err := Parse("a"+strings.Repeat("[x]", 5)+"=1", Limits{MaxPairs: 10, MaxDepth: 4}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("depth: %v", err)
	}
	if _, err := Parse("a"+strings.Repeat("[x]", 4)+"=1", Limits{MaxPairs: 10, MaxDepth: 4}); err != nil {
		t.Fatalf("depth 4: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"leads[status][0][id]=1&leads[status][0][status_id]=142&account[subdomain]=acme",
		"event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=5&auth%5Bapplication_token%5D=t",
		"a[]=1&a[]=2&a=3&a[b][]=4", "[x]=1&=2&%", "a[b[c]]=1", "a[" + strings.Repeat("[", 40) + "]=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := Parse(body, Limits{MaxPairs: 200, MaxDepth: 8})
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		var walk func(*Value, int)
		walk = func(n *Value, depth int) {
			if depth > 9 {
				t.Fatalf("tree deeper than the limit")
			}
			if n.IsMap() && n.Len() != len(n.items) {
				t.Fatalf("keys and items disagree")
			}
			n.Each(func(_ string, c *Value) { walk(c, depth+1) })
		}
		walk(v, 0)
	})
}
