package publish

import (
	"errors"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
)

// Reservations grow within the key's, the tenant's and all bodies' shares,
// fail without holding more, and give everything back on Release.
func TestReservationShares(t *testing.T) {
	p, err := New(nil, Config{MaxRecords: 10, MaxBytes: 1000,
		Shares: Shares{Bodies: 900, Tenant: 500, Key: 300}}, noop.NewMeterProvider().Meter(""))
	if err != nil {
		t.Fatal(err)
	}
	a1, a2, b1, c1 := p.Reserve("a", "k1"), p.Reserve("a", "k2"), p.Reserve("b", "k3"), p.Reserve("c", "k4")
	steps := []struct {
		r    *Reservation
		n    int64
		want error
	}{
		{a1, 300, nil},
		{a1, 1, ErrKeyShare}, // k1 at 300
		{a2, 201, ErrTenantShare},
		{a2, 200, nil}, // tenant a at 500
		{b1, 300, nil},
		{c1, 1, nil},
		{b1, 1, ErrKeyShare},
		{c1, 100, ErrOverloaded}, // all bodies at 901 would pass 900
		{c1, 0, nil},
	}
	for i, st := range steps {
		if err := st.r.Grow(st.n); !errors.Is(err, st.want) {
			t.Fatalf("step %d: grow %d: %v, want %v", i, st.n, err, st.want)
		}
	}
	if got := p.TenantBodies("a"); got != 500 {
		t.Fatalf("tenant a holds %d, want 500", got)
	}
	if _, b := p.InFlight(); b != 801 {
		t.Fatalf("in flight %d bytes, want 801", b)
	}
	for _, r := range []*Reservation{a1, a2, b1, c1, a1} { // a1 twice: idempotent
		r.Release()
	}
	if _, b := p.InFlight(); b != 0 || p.TenantBodies("a") != 0 || len(p.bodies.key) != 0 || len(p.bodies.tenant) != 0 {
		t.Fatalf("after release: %d bytes, tenant a %d, %d keys, %d tenants", b, p.TenantBodies("a"), len(p.bodies.key), len(p.bodies.tenant))
	}
	if err := a1.Grow(1); err == nil {
		t.Fatal("a released reservation grew")
	}
}
