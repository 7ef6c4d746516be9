package identity

import "testing"

// The stitcher keys what the collector published and normalises nothing
// again: E.164 and hashes alike.
func TestKeys(t *testing.T) {
	for in, want := range map[string]string{
		"+79161234567": "p:+79161234567", "h1:0123456789abcdef0123456789abcdef": "p:h1:0123456789abcdef0123456789abcdef", "": "",
	} {
		if got := Phone(in); got != want {
			t.Errorf("Phone(%q) = %q, want %q", in, got, want)
		}
	}
	if Email("ivan@example.ru") != "e:ivan@example.ru" || Email("") != "" {
		t.Error("email keys")
	}
}

func TestLinkMergesByPhone(t *testing.T) {
	g := NewGraph()
	a, _ := g.Link([]string{Client("A")}, nil)
	b, _ := g.Link([]string{Client("B")}, nil)
	if a == b {
		t.Fatal("two clients are two persons")
	}
	p, abs := g.Link([]string{Client("A")}, []string{Phone("+79160000001")})
	if p != a || len(abs) != 0 || p != PersonID(Client("A")) {
		t.Fatalf("phone joins A: %s %v", p, abs)
	}
	p, abs = g.Link([]string{Client("B")}, []string{Phone("+79160000001")})
	if len(abs) != 1 {
		t.Fatalf("phone merges B into A: %s %v", p, abs)
	}
	if o, _ := g.Owner(Client("A")); o != p {
		t.Error("A belongs to the survivor")
	}
	if o, _ := g.Owner(Client("B")); o != p {
		t.Error("B belongs to the survivor")
	}
	if want := PersonID(Client("A")); p != want {
		t.Errorf("a person's id comes from its smallest key: %s, want %s", p, want)
	}
}

func TestExplicitBeatsPhone(t *testing.T) {
	g := NewGraph()
	phone := Phone("+79160000002")
	husband, _ := g.Link([]string{CRM("amo", "contact", "1")}, []string{phone})
	wife, abs := g.Link([]string{CRM("amo", "contact", "2")}, []string{phone})
	if wife == husband || len(abs) != 0 {
		t.Fatal("two CRM contacts sharing a phone stay two persons")
	}
	// A call from that phone goes where the phone is; a deal carrying the
	// wife's contact id goes to her even though the phone points elsewhere.
	call, _ := g.Link([]string{Call("9")}, []string{phone})
	if o, _ := g.Owner(CRM("amo", "contact", "1")); call != o {
		t.Error("call joins the phone's person")
	}
	deal, _ := g.Link([]string{CRM("amo", "deal", "5"), CRM("amo", "contact", "2")}, []string{phone})
	if o, _ := g.Owner(CRM("amo", "contact", "2")); deal != o || deal == call {
		t.Error("explicit contact id wins over the phone match")
	}
	// An explicit link joins even CRM-distinct persons.
	p, abs := g.Link([]string{CRM("amo", "contact", "1"), CRM("amo", "contact", "2")}, nil)
	if len(abs) != 1 || (p != call && p != deal) {
		t.Errorf("explicit link merges: %s %v", p, abs)
	}
	if o, _ := g.Owner(phone); o != p {
		t.Error("the phone follows the merge")
	}
}

func TestMatchedOnly(t *testing.T) {
	g := NewGraph()
	if p, _ := g.Link(nil, nil); p != "" {
		t.Error("no keys, no person")
	}
	p, _ := g.Link(nil, []string{Email("x@y.ru")})
	q, _ := g.Link(nil, []string{Email("x@y.ru"), Phone("+79160000003")})
	if p == "" || p != q {
		t.Error("matched keys find and extend a person")
	}
	g.Remove(p)
	if _, ok := g.Owner(Email("x@y.ru")); ok {
		t.Error("remove forgets keys")
	}
}

func TestWebVisitorKeys(t *testing.T) {
	k := WebVisitor(NamespaceYM, "1700000000123456789", "cid:with:colons")
	ns, id, cid, ok := ParseWebVisitor(k)
	if !ok || ns != "ym" || id != "1700000000123456789" || cid != "cid:with:colons" {
		t.Fatalf("%q → %q %q %q %v", k, ns, id, cid, ok)
	}
	for _, bad := range []string{"c:ym:1", "w:ym", "w:ym:1", "w:ym::c", "w:ym:1:"} {
		if _, _, _, ok := ParseWebVisitor(bad); ok {
			t.Errorf("%q parsed as a web visitor key", bad)
		}
	}
	if WebAnalytics(NamespaceGA, "1.2") != Client("ga:1.2") {
		t.Fatal("a hit's GA id and a call's ga: client id must be one key")
	}
}
