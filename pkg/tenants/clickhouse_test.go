package tenants

import (
	"strings"
	"testing"
)

func TestClickHouseUsersValidate(t *testing.T) {
	base := func() *Config {
		return &Config{
			ClickHouse: ClickHouse{Admin: &ClickHouseUser{User: "admin", Password: "admin-password-0123"}},
			Tenants: []Tenant{{ID: "a", ClickHouseUsers: []ClickHouseUser{{User: "a_ro", Password: "tenant-password-0123"}}},
				{ID: "b"}},
		}
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) {
			c.Tenants[1].ClickHouseUsers = []ClickHouseUser{{User: "admin", Password: "x-password-01234567"}}
		}, `tenants[1].clickhouse_users[0].user: "admin" is already used by clickhouse.admin`},
		{func(c *Config) { c.ClickHouse.Admin.Password = "short" }, "clickhouse.admin.password: shorter than 16"},
		{func(c *Config) { c.Tenants[0].ClickHouseUsers[0].User = "default" }, `"default" is ClickHouse's anonymous user`},
		{func(c *Config) { c.Tenants[0].ClickHouseUsers[0].User = "A-b" }, "must be 1-64 of a-z"},
		{func(c *Config) { c.Tenants[0].ClickHouseUsers[0].Limits.MaxResultRows = -1 }, "limits must not be negative"},
	} {
		cfg := base()
		c.edit(cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}
