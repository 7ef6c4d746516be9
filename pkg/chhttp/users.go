package chhttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// user is one user of the interface: the admin (Tenant == "") or a
// tenant's read-only user.
type user struct {
	name   string
	digest [32]byte // of the password, compared in constant time
	tenant string
	limits tenants.QueryLimits
	slots  chan struct{} // one per query the user may run at once
}

func (u *user) admin() bool { return u.tenant == "" }

// Default limits of a user whose entry in the tenants file sets none.
// A tenant user's query cannot hold the engine — which the pipeline's
// inserts share — for long; the admin is the pipeline's own services.
var (
	DefaultTenantLimits = tenants.QueryLimits{
		MaxExecutionTime: 30 * time.Second, MaxResultRows: 10_000_000,
		MaxMemoryUsage: 4 << 30, MaxConcurrentQueries: 2,
	}
	DefaultAdminLimits = tenants.QueryLimits{MaxExecutionTime: 10 * time.Minute, MaxConcurrentQueries: 8}
)

func withDefaults(l, d tenants.QueryLimits) tenants.QueryLimits {
	if l.MaxExecutionTime == 0 {
		l.MaxExecutionTime = d.MaxExecutionTime
	}
	if l.MaxResultRows == 0 {
		l.MaxResultRows = d.MaxResultRows
	}
	if l.MaxMemoryUsage == 0 {
		l.MaxMemoryUsage = d.MaxMemoryUsage
	}
	if l.MaxConcurrentQueries == 0 {
		l.MaxConcurrentQueries = d.MaxConcurrentQueries
	}
	return l
}

// usersFrom builds the users of the tenants file.
func usersFrom(cfg *tenants.Config) map[string]*user {
	users := map[string]*user{}
	add := func(u tenants.ClickHouseUser, tenant string, d tenants.QueryLimits) {
		l := withDefaults(u.Limits, d)
		users[u.User] = &user{name: u.User, digest: sha256.Sum256([]byte(u.Password)), tenant: tenant,
			limits: l, slots: make(chan struct{}, l.MaxConcurrentQueries)}
	}
	if a := cfg.ClickHouse.Admin; a != nil {
		add(*a, "", DefaultAdminLimits)
	}
	for _, t := range cfg.Tenants {
		for _, u := range t.ClickHouseUsers {
			add(u, t.ID, DefaultTenantLimits)
		}
	}
	return users
}

// credentials reads the user and password the way ClickHouse accepts them:
// X-ClickHouse-User/X-ClickHouse-Key headers, HTTP basic auth, or the user
// and password URL parameters. No user means ClickHouse's "default".
func credentials(r *http.Request) (name, password string) {
	if name = r.Header.Get("X-ClickHouse-User"); name != "" {
		return name, r.Header.Get("X-ClickHouse-Key")
	}
	if n, p, ok := r.BasicAuth(); ok {
		return n, p
	}
	q := r.URL.Query()
	if n := q.Get("user"); n != "" {
		return n, q.Get("password")
	}
	return "default", ""
}

// authenticate finds the user, or fails as a server does: the same answer
// for an unknown user and a wrong password.
func (s *Server) authenticate(r *http.Request) (*user, *Exception) {
	name, password := credentials(r)
	u := s.users[strings.TrimSpace(name)]
	sum := sha256.Sum256([]byte(password))
	if u == nil || subtle.ConstantTimeCompare(sum[:], u.digest[:]) != 1 {
		return nil, exception(codeAuthenticationFailed, "%s: Authentication failed: password is incorrect, or there is no user with such name", name)
	}
	return u, nil
}
