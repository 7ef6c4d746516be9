package demo

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/throughline/throughline/pkg/tenants"
)

func TestTenants(t *testing.T) {
	cfg := Tenants(1, 0)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tenants) != 1 {
		t.Fatalf("%d tenants", len(cfg.Tenants))
	}
	tn := cfg.Tenants[0]
	if tn.ID != TenantID || tn.Timezone != "Europe/Moscow" || tn.Currency != "RUB" || len(tn.Accounts) != DefaultBranches {
		t.Fatalf("tenant %+v", tn)
	}
	if tn.Accounts[0].ID != "moscow" || tn.Accounts[0].Name != "Москва" {
		t.Errorf("first branch %+v", tn.Accounts[0])
	}
	keys := tenants.NewKeys(cfg)
	for _, a := range tn.Accounts {
		if len(a.WriteKeys) != 1 || len(a.WriteKeys[0]) < 8 {
			t.Errorf("%s: keys %v", a.ID, a.WriteKeys)
		}
		if p, ok := keys.Lookup(a.WriteKeys[0]); !ok || p.Account != a.ID {
			t.Errorf("%s: key resolves to %+v", a.ID, p)
		}
		if a.Timezone != "" {
			if _, err := time.LoadLocation(a.Timezone); err != nil {
				t.Errorf("%s: %v", a.ID, err)
			}
		}
	}
	if !reflect.DeepEqual(Tenants(1, 20), cfg) {
		t.Error("same seed gave different tenants")
	}
	if Tenants(2, 20).Tenants[0].Accounts[0].WriteKeys[0] == tn.Accounts[0].WriteKeys[0] {
		t.Error("another seed gave the same key")
	}
	big := Tenants(1, 65)
	if err := big.Validate(); err != nil {
		t.Fatalf("65 branches: %v", err)
	}
	if id := big.Tenants[0].Accounts[64].ID; id != "kazan-3" {
		t.Errorf("branch 65 is %q", id)
	}
}

func TestWriteTenantsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "tenants.yaml")
	want := Tenants(5, 3)
	if err := WriteTenantsFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := tenants.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	gotYAML, _ := yaml.Marshal(got)
	wantYAML, _ := yaml.Marshal(want)
	if string(gotYAML) != string(wantYAML) {
		t.Errorf("round trip:\n%s\nwant:\n%s", gotYAML, wantYAML)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	if err := WriteTenantsFile(path, &tenants.Config{}); err == nil {
		t.Error("an invalid config was written")
	}
}
