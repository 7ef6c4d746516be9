package numbers

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func pool(n int) *Pool {
	c := &tenants.NumberPool{Replace: []string{"+7 (495) 000-00-00"}}
	for i := range n {
		c.Numbers = append(c.Numbers, fmt.Sprintf("+7495111000%d", i+1))
	}
	return NewPool(c)
}

func TestLeaseKeepsTheClientsNumber(t *testing.T) {
	p := pool(3)
	a := p.Lease("A", t0)
	if a.Number != "+74951110001" || a.Extended || a.Shared || !a.To.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("first lease: %+v", a)
	}
	again := p.Lease("A", t0.Add(20*time.Minute))
	if again.Number != a.Number || !again.Extended || !again.From.Equal(t0) || !again.To.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("within its lease the client keeps its number, the lease extends: %+v", again)
	}
	if b := p.Lease("B", t0.Add(21*time.Minute)); b.Number == a.Number {
		t.Fatalf("B got A's number: %+v", b)
	}
	// After its lease ended A gets a new lease, not an extension.
	late := p.Lease("A", t0.Add(2*time.Hour))
	if late.Extended || !late.From.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("lease after expiry: %+v", late)
	}
}

func TestLeaseTakesTheNumberReleasedLongestAgo(t *testing.T) {
	p := pool(3)
	p.Lease("A", t0)                     // 1, ends t0+30m
	p.Lease("B", t0.Add(time.Minute))    // 2, ends t0+31m
	p.Lease("C", t0.Add(2*time.Minute))  // 3, ends t0+32m
	p.Lease("B", t0.Add(10*time.Minute)) // 2 extended to t0+40m
	// At t0+45m all are free; 1 was released first, then 3, then 2.
	at := t0.Add(45 * time.Minute)
	for _, want := range []string{"+74951110001", "+74951110003", "+74951110002"} {
		if l := p.Lease("new-"+want, at); l.Number != want || l.Shared {
			t.Fatalf("want %s, got %+v", want, l)
		}
	}
}

func TestExhaustedPoolSharesTheNumberEndingFirst(t *testing.T) {
	p := pool(2)
	p.Lease("A", t0)
	p.Lease("B", t0.Add(time.Minute))
	c := p.Lease("C", t0.Add(2*time.Minute))
	if c.Number != "+74951110001" || !c.Shared {
		t.Fatalf("exhausted: %+v", c)
	}
	// A lost its number to C: its next page view is a new lease.
	if a := p.Lease("A", t0.Add(3*time.Minute)); a.Extended || a.Number != "+74951110002" || !a.Shared {
		t.Fatalf("A after losing its number: %+v", a)
	}
	if got := len(p.byClient); got > p.Size() {
		t.Fatalf("%d clients kept for %d numbers", got, p.Size())
	}
}

// Regression: a client given a new number after its lease ended kept it when
// its old number went to someone else; the pool forgot the client instead,
// and its next page view took a number from another visitor (Shared).
func TestLeaseKeepsTheNewNumberWhenTheOldOneGoes(t *testing.T) {
	p := pool(2)
	p.Lease("X", t0)                               // 1, ends t0+30m
	second := p.Lease("X", t0.Add(31*time.Minute)) // 2: 1 has ended
	p.Lease("Y", t0.Add(32*time.Minute))           // 1, which X held before
	again := p.Lease("X", t0.Add(33*time.Minute))  // X still holds 2
	if second.Number != "+74951110002" || again.Number != second.Number || !again.Extended || again.Shared ||
		!again.From.Equal(second.From) {
		t.Fatalf("X's number %+v, then %+v", second, again)
	}
}

func TestLeaseTableBounded(t *testing.T) {
	p := pool(5)
	for i := range 10000 {
		p.Lease(fmt.Sprintf("c%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	if len(p.byClient) != 5 {
		t.Fatalf("%d clients kept, want one per number", len(p.byClient))
	}
}

// Restoring a pool's published leases, in any order, gives the pool the
// lease table that made them: it then leases exactly as the original would.
func TestRestoreRebuildsTheTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		orig := pool(3)
		var leases []Lease
		var clients []string
		at := t0
		for range 1 + rng.IntN(40) {
			at = at.Add(time.Duration(1+rng.IntN(600)) * time.Second)
			c := fmt.Sprintf("c%d", rng.IntN(6))
			leases = append(leases, orig.Lease(c, at))
			clients = append(clients, c)
		}
		restored := pool(3)
		for _, i := range rng.Perm(len(leases)) {
			if !restored.Restore(clients[i], leases[i]) {
				t.Fatalf("run %d: %s not in the pool", run, leases[i].Number)
			}
		}
		if !reflect.DeepEqual(orig.slots, restored.slots) || !reflect.DeepEqual(orig.byClient, restored.byClient) {
			t.Fatalf("run %d: leased\n%+v %v\nrestored\n%+v %v", run, orig.slots, orig.byClient, restored.slots, restored.byClient)
		}
		next := at.Add(time.Duration(rng.IntN(1800)) * time.Second)
		for _, c := range []string{"c0", "c1", "new"} {
			if a, b := orig.Lease(c, next), restored.Lease(c, next); a != b {
				t.Fatalf("run %d: %s got %+v from the original, %+v after restore", run, c, a, b)
			}
		}
	}
}

func TestRestore(t *testing.T) {
	p := pool(3)
	end := t0.Add(30 * time.Minute)
	p.Restore("A", Lease{Number: "+74951110002", From: t0, To: end})
	p.Restore("old", Lease{Number: "+74951110001", From: t0.Add(-time.Hour), To: t0.Add(-30 * time.Minute)})
	if p.Restore("gone", Lease{Number: "+74959999999", From: t0, To: end}) {
		t.Fatal("a number no longer in the pool was restored")
	}
	now := t0.Add(time.Minute)
	if n := p.Live(now); n != 1 {
		t.Fatalf("%d live leases, want A's", n)
	}
	// A keeps its number and its lease's start; the next visitor gets the
	// number never leased, then the one that ended.
	if a := p.Lease("A", now); a.Number != "+74951110002" || !a.Extended || !a.From.Equal(t0) {
		t.Fatalf("A after restore: %+v", a)
	}
	if b := p.Lease("B", now); b.Number != "+74951110003" || b.Shared {
		t.Fatalf("B: %+v", b)
	}
	if c := p.Lease("C", now); c.Number != "+74951110001" || c.Shared {
		t.Fatalf("C: %+v", c)
	}
}

func TestPoolsFromConfig(t *testing.T) {
	c, err := tenants.Parse([]byte(`
tenants:
  - id: net
    accounts:
      - id: msk
        write_keys: [msk-key-123]
        call_tracking: [{provider: generic, number_pool: {numbers: ["+74951110001"], replace: ["8 (495) 000-00-00"], lease: 10m}}]
      - id: spb
        write_keys: [spb-key-123]
`))
	if err != nil {
		t.Fatal(err)
	}
	ps := New(c)
	if ps.For("net", "spb") != nil || ps.For("other", "msk") != nil {
		t.Fatal("a pool for an account without one")
	}
	p := ps.For("net", "msk")
	if p == nil || p.Display != "8 (495) 000-00-00" {
		t.Fatalf("msk pool: %+v", p)
	}
	if l := p.Lease("A", t0); !l.To.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("lease: %+v", l)
	}
	if ps.Len() != 1 || ps.MaxLease() != 10*time.Minute || ps.Live(t0) != 1 {
		t.Fatalf("pools: %d, max lease %v, %d live", ps.Len(), ps.MaxLease(), ps.Live(t0))
	}
}

func TestFormatLike(t *testing.T) {
	for _, c := range []struct{ pattern, number, want string }{
		{"+7 (495) 000-00-00", "+74951234567", "+7 (495) 123-45-67"},
		{"8 (495) 000-00-00", "+74951234567", "8 (495) 123-45-67"},
		{"+74950000000", "+74951234567", "+74951234567"},
		{"(495) 000-00-00", "+74951234567", "(495) 123-45-67"},
		{"8 800 000 00 00", "+78005553535", "8 800 555 35 35"},
		{"call us", "+74951234567", "+74951234567"},
		{"+44 20 0000 0000 00", "+442012345678", "+442012345678"},
	} {
		if got := FormatLike(c.pattern, c.number); got != c.want {
			t.Errorf("FormatLike(%q, %q) = %q, want %q", c.pattern, c.number, got, c.want)
		}
	}
}

// FuzzFormatLike: any pattern and number give either the number itself or
// the pattern with only its digits changed, to the number's trailing digits.
func FuzzFormatLike(f *testing.F) {
	f.Add("+7 (495) 000-00-00", "+74951234567")
	f.Add("8 (495) 000-00-00", "+74951234567")
	f.Add("", "+7")
	f.Fuzz(func(t *testing.T, pattern, number string) {
		got := FormatLike(pattern, number)
		if got == number {
			return
		}
		if len(got) != len(pattern) {
			t.Fatalf("length changed: %q → %q", pattern, got)
		}
		var nd, gd []byte
		for i := 0; i < len(got); i++ {
			isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
			if isDigit(pattern[i]) != isDigit(got[i]) || !isDigit(got[i]) && got[i] != pattern[i] {
				t.Fatalf("%q → %q changes more than digits", pattern, got)
			}
			if isDigit(got[i]) {
				gd = append(gd, got[i])
			}
		}
		for i := 0; i < len(number); i++ {
			if number[i] >= '0' && number[i] <= '9' {
				nd = append(nd, number[i])
			}
		}
		if !strings.HasSuffix(string(nd), string(gd[1:])) {
			t.Fatalf("%q → %q: digits are not the number's (%s)", pattern, got, nd)
		}
	})
}

// BenchmarkLease: a lease of a pool of 100 numbers to a new client.
func BenchmarkLease(b *testing.B) {
	c := &tenants.NumberPool{Replace: []string{"+7 (495) 000-00-00"}}
	for i := range 100 {
		c.Numbers = append(c.Numbers, fmt.Sprintf("+749511%05d", i))
	}
	p := NewPool(c)
	at := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at = at.Add(time.Second)
		p.Lease("c"+strconv.Itoa(i), at)
	}
}

// Collectors that lease from one pool and apply each other's leases, each
// reaching the others a little later and in any order, end with the same
// table — whatever the races between them.
func TestReplicasConverge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type delivery struct {
		at      time.Time
		to      int
		client  string
		lease   Lease
		ordinal int
	}
	for run := range 300 {
		const replicas = 3
		var ps [replicas]*Pool
		for i := range ps {
			ps[i] = pool(3)
		}
		var queue []delivery
		deliver := func(until time.Time) {
			// Due deliveries in time order (ties by when they were sent).
			for {
				best := -1
				for i, d := range queue {
					if !d.at.After(until) && (best < 0 || d.at.Before(queue[best].at) ||
						d.at.Equal(queue[best].at) && d.ordinal < queue[best].ordinal) {
						best = i
					}
				}
				if best < 0 {
					return
				}
				d := queue[best]
				queue = append(queue[:best], queue[best+1:]...)
				ps[d.to].Apply(d.client, d.lease)
			}
		}
		at := t0
		for n := range 1 + rng.IntN(60) {
			// Requests a few milliseconds apart race (and within one
			// millisecond tie, as leases are published to the millisecond);
			// minutes apart do not.
			if rng.IntN(2) == 0 {
				at = at.Add(time.Duration(rng.IntN(3000)) * time.Microsecond)
			} else {
				at = at.Add(time.Duration(1+rng.IntN(600)) * time.Second)
			}
			deliver(at)
			r, c := rng.IntN(replicas), fmt.Sprintf("c%d", rng.IntN(8))
			l := ps[r].Lease(c, at)
			if l.From.Nanosecond()%int(time.Millisecond) != 0 || l.To.Nanosecond()%int(time.Millisecond) != 0 {
				t.Fatalf("lease %+v: not to the millisecond, as published", l)
			}
			for o := range replicas {
				if o != r {
					delay := time.Duration(rng.IntN(20)) * time.Millisecond
					queue = append(queue, delivery{at: at.Add(delay), to: o, client: c, lease: l, ordinal: n})
				}
			}
		}
		deliver(at.Add(time.Hour))
		for r := 1; r < replicas; r++ {
			if !reflect.DeepEqual(ps[0].slots, ps[r].slots) || !reflect.DeepEqual(ps[0].byClient, ps[r].byClient) {
				t.Fatalf("run %d: replica 0\n%+v %v\nreplica %d\n%+v %v", run, ps[0].slots, ps[0].byClient, r, ps[r].slots, ps[r].byClient)
			}
		}
	}
}

// Two collectors lease the same free number to two visitors at once: each,
// learning of the other's lease, keeps the same one — the lease ending last,
// or on a tie the one that began last, or the greater client id — and the
// other visitor gets another number when it asks again.
func TestApplyConflict(t *testing.T) {
	a, b := pool(2), pool(2)
	x := a.Lease("X", t0)
	y := b.Lease("Y", t0.Add(time.Millisecond))
	if x.Number != y.Number {
		t.Fatalf("X %s, Y %s: want the same free number", x.Number, y.Number)
	}
	if got := a.Apply("Y", y); got != Conflict {
		t.Fatalf("Y's later lease on X's collector: %v, want Conflict", got)
	}
	if got := b.Apply("X", x); got != Stale {
		t.Fatalf("X's earlier lease on Y's collector: %v, want Stale", got)
	}
	if !reflect.DeepEqual(a.slots, b.slots) || !reflect.DeepEqual(a.byClient, b.byClient) {
		t.Fatalf("tables differ:\n%+v %v\n%+v %v", a.slots, a.byClient, b.slots, b.byClient)
	}
	if again := a.Lease("X", t0.Add(time.Minute)); again.Number == x.Number || again.Extended || again.Shared {
		t.Fatalf("X asks again: %+v, want the other number, new", again)
	}
	if again := b.Lease("Y", t0.Add(time.Minute)); again.Number != y.Number || !again.Extended {
		t.Fatalf("Y asks again: %+v, want its number extended", again)
	}

	// The same millisecond: the greater client id wins on both.
	a, b = pool(2), pool(2)
	x, y = a.Lease("X", t0), b.Lease("Y", t0)
	if ga, gb := a.Apply("Y", y), b.Apply("X", x); ga != Conflict || gb != Stale {
		t.Fatalf("tie: X's collector %v, Y's %v", ga, gb)
	}
	if !reflect.DeepEqual(a.slots, b.slots) {
		t.Fatalf("tie: tables differ:\n%+v\n%+v", a.slots, b.slots)
	}

	// A shared lease (the pool was exhausted) displaces on purpose.
	p := pool(1)
	p.Lease("X", t0)
	if got := p.Apply("Y", Lease{Number: "+74951110001", From: t0.Add(time.Minute), To: t0.Add(31 * time.Minute), Shared: true}); got != Taken {
		t.Fatalf("a shared lease: %v, want Taken", got)
	}
	// A lease after the number was released is no conflict.
	if got := p.Apply("Z", Lease{Number: "+74951110001", From: t0.Add(40 * time.Minute), To: t0.Add(70 * time.Minute)}); got != Taken {
		t.Fatalf("a later lease: %v, want Taken", got)
	}
}

// A lease replacing one that ends as late — the pool exhausted within one
// millisecond — ends a millisecond later, so that the other collectors,
// applying both, keep the same one as this.
func TestLeaseWinsOverTheLeaseItReplaces(t *testing.T) {
	p, other := pool(1), pool(1)
	z := p.Lease("z", t0.Add(300*time.Microsecond))
	a := p.Lease("a", t0.Add(600*time.Microsecond)) // "a" < "z": a tie would go to z
	if !a.Shared || !a.From.Equal(t0) || !a.To.Equal(z.To.Add(time.Millisecond)) {
		t.Fatalf("z %+v, then a %+v", z, a)
	}
	other.Apply("a", a)
	other.Apply("z", z)
	if !reflect.DeepEqual(p.slots, other.slots) || !reflect.DeepEqual(p.byClient, other.byClient) {
		t.Fatalf("tables differ:\n%+v %v\n%+v %v", p.slots, p.byClient, other.slots, other.byClient)
	}
}
