package tenants

import (
	"fmt"
	"regexp"
	"time"
)

// ClickHouse holds the users of the embedded engine's ClickHouse HTTP
// interface (pkg/chhttp) that are not a tenant's: the admin, which reads
// every table and may insert (the distributed services connect as it).
type ClickHouse struct {
	Admin *ClickHouseUser `yaml:"admin"`
}

// ClickHouseUser is one user of the ClickHouse HTTP interface. A tenant's
// users (Tenant.ClickHouseUsers) are read-only and see only that tenant's
// rows; each user's limits bound what one of its queries may take from the
// engine the pipeline shares.
type ClickHouseUser struct {
	User     string      `yaml:"user"`
	Password string      `yaml:"password"`
	Limits   QueryLimits `yaml:",inline"`
}

// QueryLimits bound one user's queries. Zero takes the interface's default.
type QueryLimits struct {
	// MaxExecutionTime stops a query (ClickHouse max_execution_time).
	MaxExecutionTime time.Duration `yaml:"max_execution_time,omitempty"`
	// MaxResultRows fails a query whose answer would hold more rows.
	MaxResultRows int64 `yaml:"max_result_rows,omitempty"`
	// MaxMemoryUsage fails a query that needs more memory (bytes).
	MaxMemoryUsage int64 `yaml:"max_memory_usage,omitempty"`
	// MaxConcurrentQueries is how many of the user's queries run at once.
	MaxConcurrentQueries int `yaml:"max_concurrent_queries,omitempty"`
}

var clickHouseUserName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// validateClickHouse checks the users' names are unique and well-formed
// and their passwords long enough to be generated, not typed.
func (c *Config) validateClickHouse() error {
	seen := map[string]string{}
	check := func(where string, u *ClickHouseUser) error {
		if !clickHouseUserName.MatchString(u.User) {
			return fmt.Errorf("%s.user: %q must be 1-64 of a-z, 0-9 and _, starting with a letter", where, u.User)
		}
		if u.User == "default" {
			return fmt.Errorf("%s.user: \"default\" is ClickHouse's anonymous user; choose another name", where)
		}
		if prev, ok := seen[u.User]; ok {
			return fmt.Errorf("%s.user: %q is already used by %s", where, u.User, prev)
		}
		seen[u.User] = where
		if len(u.Password) < 16 {
			return fmt.Errorf("%s.password: shorter than 16 characters", where)
		}
		l := u.Limits
		if l.MaxExecutionTime < 0 || l.MaxResultRows < 0 || l.MaxMemoryUsage < 0 || l.MaxConcurrentQueries < 0 {
			return fmt.Errorf("%s: limits must not be negative", where)
		}
		return nil
	}
	if c.ClickHouse.Admin != nil {
		if err := check("clickhouse.admin", c.ClickHouse.Admin); err != nil {
			return err
		}
	}
	for i := range c.Tenants {
		for j := range c.Tenants[i].ClickHouseUsers {
			if err := check(fmt.Sprintf("tenants[%d].clickhouse_users[%d]", i, j), &c.Tenants[i].ClickHouseUsers[j]); err != nil {
				return err
			}
		}
	}
	return nil
}
