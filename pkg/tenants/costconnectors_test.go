package tenants

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCostConnectorsValidate(t *testing.T) {
	head := "tenants:\n  - id: acme\n    accounts:\n      - id: msk\n        cost_connectors:\n          - "
	cases := []struct{ conn, err string }{
		{`{provider: bing, token_env: X}`, `provider: "bing" is not one of yandex_direct, vk_ads, google_ads, meta`},
		{`{provider: yandex_direct}`, "cost_connectors[0].token_env or token_file: required"},
		{`{provider: yandex_direct, token_env: X, token_file: /x}`, "give one of them"},
		{`{provider: yandex_direct, token_env: X, restate_days: 400}`, "restate_days: 400, must be 1..90"},
		{`{provider: yandex_direct, token_env: X, timezone: Mars/Olympus}`, "timezone"},
		{`{provider: yandex_direct, token_env: X, base_url: "ftp://x"}`, "base_url"},
		{`{provider: google_ads, token_env: X, customer_id: "12345", client_id: c, developer_token_env: D, client_secret_env: S}`, "customer_id"},
		{`{provider: google_ads, token_env: X, customer_id: "123-456-7890", client_id: c, client_secret_env: S}`, "developer_token_env or developer_token_file: required"},
		{`{provider: meta, token_env: X, ad_account_id: "act_x1"}`, "ad_account_id"},
		{"{provider: vk_ads, token_env: X}\n          - {provider: vk_ads, token_env: Y}", `name: "vk_ads" already names another connector`},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(head + tc.conn + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "tenants[0].accounts[0].cost_connectors") {
			t.Errorf("%s: got %v, want …%s…", tc.conn, err, tc.err)
		}
	}
	c, err := Parse([]byte(head + `{provider: vk_ads, token_env: X}` + "\n          - {provider: vk_ads, name: vk-second, token_file: /x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cs := c.Tenants[0].Accounts[0].CostConnectors; cs[0].ID() != "vk_ads" || cs[1].ID() != "vk-second" || cs[0].Restate() != DefaultRestateDays || !cs[0].VAT() {
		t.Fatalf("%+v", cs)
	}
}

func TestReadSecret(t *testing.T) {
	t.Setenv("TL_TEST_SECRET", " s3cret \n")
	if v, err := ReadSecret("token", "TL_TEST_SECRET", ""); err != nil || v != "s3cret" {
		t.Fatalf("%q %v", v, err)
	}
	p := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(p, []byte("from-file\n"), 0o600)
	if v, err := ReadSecret("token", "", p); err != nil || v != "from-file" {
		t.Fatalf("%q %v", v, err)
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := ReadSecret("token", "", p); err == nil || !strings.Contains(err.Error(), "token_file: "+p+" is empty") {
		t.Fatal(err)
	}
	if _, err := ReadSecret("token", "TL_TEST_UNSET_SECRET", ""); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatal(err)
	}
}
