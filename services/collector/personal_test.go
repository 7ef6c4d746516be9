package collector

import (
	"reflect"
	"testing"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
	"github.com/throughline/throughline/pkg/tenants"
)

func TestPersonal(t *testing.T) {
	cfg, err := tenants.Parse([]byte(`tenants:
  - id: net
    pii_salt: 0123456789abcdef0123456789abcdef
    accounts:
      - {id: msk, write_keys: [msk-key-1]}
      - {id: kyiv, phone_region: UA, write_keys: [kyiv-key-1]}
  - id: plain
    phone_region: KZ
    accounts:
      - {id: almaty, write_keys: [almaty-key-1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{personal: newPersonal(cfg)}
	for p, want := range map[tenants.Principal]string{
		{Tenant: "net", Account: "msk"}: "RU", {Tenant: "net", Account: "kyiv"}: "UA",
		{Tenant: "plain", Account: "almaty"}: "KZ", {Tenant: "plain"}: "KZ", {Tenant: "gone", Account: "x"}: "",
	} {
		if got := c.phoneRegion(p); got != want {
			t.Errorf("phoneRegion(%v) = %q, want %q", p, got, want)
		}
	}
	if got := unsalted(cfg); !reflect.DeepEqual(got, []string{"plain"}) {
		t.Errorf("unsalted = %v", got)
	}

	h := pii.New("0123456789abcdef0123456789abcdef")
	e := event.Envelope{Tenant: "net", Phone: "+74951234567", Email: "a@b.ru",
		Call: &event.Call{CallerPhone: "+74951234567", TrackingNumber: "+74950000000"},
		CRM:  &event.CRM{Phones: []string{"+74951234567", "+79161234567"}, Emails: []string{"a@b.ru"}}}
	orig := e
	origPhones := append([]string(nil), e.CRM.Phones...)
	got := c.hashed(&e)
	want := event.Envelope{Tenant: "net", Phone: h.Phone("+74951234567"), Email: h.Email("a@b.ru"),
		Call: &event.Call{CallerPhone: h.Phone("+74951234567"), TrackingNumber: "+74950000000"},
		CRM:  &event.CRM{Phones: []string{h.Phone("+74951234567"), h.Phone("+79161234567")}, Emails: []string{h.Email("a@b.ru")}}}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("hashed:\n got %+v %+v %+v\nwant %+v %+v %+v", *got, *got.Call, *got.CRM, want, *want.Call, *want.CRM)
	}
	if e.Phone != orig.Phone || e.Call.CallerPhone != "+74951234567" || !reflect.DeepEqual(e.CRM.Phones, origPhones) {
		t.Error("hashed modified the envelope it was given")
	}
	plain := event.Envelope{Tenant: "plain", Phone: "+77011234567"}
	if c.hashed(&plain).Phone != "+77011234567" {
		t.Error("a tenant without pii_salt was hashed")
	}
	reason, payload := c.scrubbed(tenants.Principal{Tenant: "net", Account: "kyiv"}, `caller: "044 123 4567" refused`, []byte(`{"caller":"044 123 4567"}`))
	if hp := h.Phone("+380441234567"); reason != `caller: "`+hp+`" refused` || string(payload) != `{"caller":"`+hp+`"}` {
		t.Errorf("scrubbed in the account's region: %s / %s", reason, payload)
	}
}
