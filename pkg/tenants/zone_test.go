package tenants

import "testing"

func TestZoneIsTheAccountsElseTheTenantsElseUTC(t *testing.T) {
	c := &Config{Tenants: []Tenant{
		{ID: "net", Timezone: "Europe/Moscow", Accounts: []Account{{ID: "own", Timezone: "Asia/Yekaterinburg"}, {ID: "plain"}}},
		{ID: "bare", Accounts: []Account{{ID: "a"}}},
	}}
	for _, tc := range []struct{ tenant, account, want string }{
		{"net", "own", "Asia/Yekaterinburg"},
		{"net", "plain", "Europe/Moscow"},
		{"net", "unknown", "Europe/Moscow"},
		{"bare", "a", "UTC"},
		{"nobody", "x", "UTC"},
	} {
		if got := c.Zone(tc.tenant, tc.account); got != tc.want {
			t.Errorf("Zone(%s, %s) = %s, want %s", tc.tenant, tc.account, got, tc.want)
		}
	}
}
