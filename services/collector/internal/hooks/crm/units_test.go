package crm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestFieldUnits(t *testing.T) {
	for in, want := range map[string]float64{"2": 2, " 3 ": 3, "1,5": 1.5, "2 шт": 2, "2шт.": 2, "3 pcs": 3, "1 000": 1000, "+4": 4, "0": 0} {
		if got, err := FieldUnits(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "две", "-2", "2-3", "1e9999", "NaN", "0x10", "2/3", "1.5.5", "9999999999"} {
		if got, err := FieldUnits(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}

// amoCRM's webhook carries a units custom field: "2 шт" counts 2; a value
// that is no number keeps the lead (its revenue counts) without units and
// says so in the delivery's errors (it is dead-lettered with that reason).
func TestAmoCRMUnitsField(t *testing.T) {
	s := Settings{Currency: "RUB", UnitsField: "70010"}
	req, err := ParseAmoCRM(formFixture(t, "units/amocrm_status_units.form"), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Items) != 2 || len(req.Errors) != 1 {
		t.Fatalf("items %+v errors %v", req.Items, req.Errors)
	}
	byID := map[string]AmoItem{}
	for _, it := range req.Items {
		byID[it.LeadID] = it
	}
	if it := byID["31926520"]; it.Units != 2 || it.Outcome != OutcomeWon || it.Amount != 4_800_000 || it.Pull {
		t.Fatalf("lead with units: %+v", it)
	}
	if it := byID["31926521"]; it.Units != 0 || it.Amount != 1_600_000 {
		t.Fatalf("lead with a bad units field: %+v", it)
	}
	if e := req.Errors[0].Error(); !strings.Contains(e, "leads[status][7]") || !strings.Contains(e, "kept without units") || !strings.Contains(e, "две") {
		t.Fatalf("error %q", e)
	}
	// The field is found by name too, and an account without units_field reads none.
	if req, _ := ParseAmoCRM(formFixture(t, "units/amocrm_status_units.form"), Settings{Currency: "RUB", UnitsField: "количество  СТЁКОЛ"}); req.Items[0].Units != 2 {
		t.Fatalf("by name: %+v", req.Items[0])
	}
	if req, _ := ParseAmoCRM(formFixture(t, "units/amocrm_status_units.form"), rub); req.Items[0].Units != 0 || len(req.Errors) != 0 {
		t.Fatalf("no units_field: %+v %v", req.Items[0], req.Errors)
	}
}

// With units_catalog, a won lead is pulled with its catalog elements (a
// webhook never carries them) and the links' quantities of that catalog are
// its units: 2 + "0,5" + an element without a quantity (1) = 3.5; "*" counts
// every catalog's; the units field, when configured, wins.
func TestAmoCRMUnitsFromCatalog(t *testing.T) {
	lead := fixture(t, "units/amocrm_lead_catalog.json")
	body := fixture(t, "amocrm/status_won.txt")
	for _, c := range []struct {
		s    Settings
		pull bool
		want float64
	}{
		{Settings{Currency: "RUB", UnitsCatalog: "4521"}, true, 3.5},
		{Settings{Currency: "RUB", UnitsCatalog: "*"}, true, 4.5},
		{Settings{Currency: "RUB", UnitsCatalog: "777"}, true, 0},
		{Settings{Currency: "RUB"}, false, 0},
	} {
		req, err := ParseAmoCRM(body, c.s)
		if err != nil || len(req.Items) != 1 || req.Items[0].Pull != c.pull {
			t.Fatalf("%+v: pull %+v %v", c.s, req, err)
		}
		changes, errs := ResolveAmoCRM(context.Background(), req, leadsFromFile{"31926520": lead}, c.s, body)
		if len(errs) != 0 || len(changes) != 1 || changes[0].Units != c.want {
			t.Fatalf("%+v: %+v %v, want %v units", c.s, changes, errs, c.want)
		}
		if c.pull && (changes[0].Amount != 4_800_000 || changes[0].ContactID != "4401") {
			t.Fatalf("pulled lead not merged: %+v", changes[0])
		}
	}
	it := AmoItem{}
	it.LeadID, it.Entity, it.Outcome = "31926520", EntityLead, OutcomeOpen
	if err := MergeAmoLead(&it, lead, Settings{Currency: "RUB", UnitsField: "Количество стёкол", UnitsCatalog: "*"}); err != nil || it.Units != 3 {
		t.Fatalf("units field over the catalog: %v %v", it.Units, err)
	}
	bad := strings.Replace(string(lead), `"quantity": 2,`, `"quantity": {"n": 2},`, 1)
	if err := MergeAmoLead(&AmoItem{Change: Change{CRM: it.CRM}}, []byte(bad), Settings{Currency: "RUB", UnitsCatalog: "4521"}); err == nil ||
		!strings.Contains(err.Error(), "catalog_elements[0].metadata.quantity") {
		t.Fatalf("a quantity that is an object: %v", err)
	}
}

// failingRows answers crm.deal.get from fixtures and fails product rows.
type failingRows struct {
	bitrixFromFile
	err error
}

func (f failingRows) List(context.Context, string, string) (json.RawMessage, error) {
	return nil, f.err
}

type permanentErr struct{}

func (permanentErr) Error() string {
	return "bitrix24 crm.deal.productrows.get: insufficient_scope (HTTP 401) after 1 attempt"
}
func (permanentErr) IsPermanent() bool { return true }

// A won Bitrix24 deal's units are its product rows' quantities (a second
// pull); an open deal's rows are not pulled; a portal that refuses the
// method for good keeps the deal without units and a note; a transient
// failure fails the event (it is re-driven).
func TestBitrix24ProductRowsUnits(t *testing.T) {
	ev := &BitrixEvent{Entity: "deal", Action: "update", ID: "1234", TS: 1_793_520_000_000}
	rows := json.RawMessage(fixture(t, "units/bitrix24_productrows.json"))
	api := bitrixFromFile{"crm.deal.get 1234": bitrixResult(t, "bitrix24/deal_won.json"), "crm.deal.productrows.get 1234": rows}
	ch, err := ResolveBitrix24(context.Background(), ev, api, rub)
	if err != nil || ch.Units != 3 || ch.Outcome != OutcomeWon || ch.UnitsNote != "" {
		t.Fatalf("won deal: %+v %v", ch, err)
	}
	delete(api, "crm.deal.productrows.get 1234")
	if ch, err := ResolveBitrix24(context.Background(), ev, api, rub); err != nil || ch.Units != 0 {
		t.Fatalf("no rows: %+v %v", ch, err)
	}
	base := bitrixFromFile{"crm.deal.get 1234": bitrixResult(t, "bitrix24/deal_won.json")}
	ch, err = ResolveBitrix24(context.Background(), ev, failingRows{base, permanentErr{}}, rub)
	if err != nil || ch.Units != 0 || !strings.Contains(ch.UnitsNote, "insufficient_scope") {
		t.Fatalf("permanent failure: %+v %v", ch, err)
	}
	transient := errors.New("bitrix24 crm.deal.productrows.get: QUERY_LIMIT_EXCEEDED (HTTP 503) after 4 attempts")
	if _, err = ResolveBitrix24(context.Background(), ev, failingRows{base, transient}, rub); err == nil ||
		!strings.Contains(err.Error(), "fetching product rows of deal 1234") {
		t.Fatalf("transient failure: %v", err)
	}
	open := bitrixFromFile{"crm.deal.get 1235": bitrixResult(t, "bitrix24/deal_other_pipeline.json")}
	ev2 := &BitrixEvent{Entity: "deal", Action: "update", ID: "1235", TS: 1_793_520_000_000}
	if ch, err := ResolveBitrix24(context.Background(), ev2, failingRows{open, transient}, rub); err != nil || ch.Outcome == OutcomeWon {
		t.Fatalf("a deal not won pulls no rows: %+v %v", ch, err)
	}
	// units_field: a UF_CRM_ field wins and saves the pull.
	withField := strings.Replace(string(bitrixResult(t, "bitrix24/deal_won.json")), `"UF_CRM_CALL_ID"`, `"UF_CRM_UNITS": "2,0", "UF_CRM_CALL_ID"`, 1)
	s := Settings{Currency: "RUB", UnitsField: "uf_crm_units"}
	ch, err = ResolveBitrix24(context.Background(), ev, failingRows{bitrixFromFile{"crm.deal.get 1234": json.RawMessage(withField)}, transient}, s)
	if err != nil || ch.Units != 2 {
		t.Fatalf("units field: %+v %v", ch, err)
	}
}

func TestBitrixRowsUnitsRefusesNonsense(t *testing.T) {
	for _, raw := range []string{`{"QUANTITY":2}`, `[{"QUANTITY":"две"}]`, `[{"QUANTITY":-1}]`, `[{"QUANTITY":6e8},{"QUANTITY":6e8}]`, `[1,`} {
		if n, err := BitrixRowsUnits(json.RawMessage(raw)); err == nil {
			t.Errorf("%s: %v units, want an error", raw, n)
		}
	}
	if n, err := BitrixRowsUnits(json.RawMessage(`[{"quantity":"1.5"},{"QUANTITY":null},"x",{}]`)); err != nil || n != 1.5 {
		t.Fatalf("lenient rows: %v %v", n, err)
	}
}

// Megaplan's deal positions and Dynamics' expanded opportunity products
// carry quantities; a units field, when configured, wins.
func TestMegaplanAndDynamicsUnits(t *testing.T) {
	changes, err := ParseMegaplan(fixture(t, "units/megaplan_positions.json"), rub)
	if err != nil || len(changes) != 1 || changes[0].Units != 3 || changes[0].Amount != 3_000_000 || changes[0].Outcome != OutcomeWon {
		t.Fatalf("megaplan: %+v %v", changes, err)
	}
	changes, err = ParseMegaplan(fixture(t, "units/megaplan_positions.json"), Settings{Currency: "RUB", UnitsField: "Kolichestvo"})
	if err != nil || changes[0].Units != 4 {
		t.Fatalf("megaplan units field over the positions: %+v %v", changes, err)
	}
	changes, err = ParseMegaplan(fixture(t, "megaplan/deal_won.json"), Settings{Currency: "RUB", UnitsField: "TlClientId"})
	if err != nil || changes[0].Units != 0 || !strings.Contains(changes[0].UnitsNote, "not a quantity") {
		t.Fatalf("megaplan field that is no number: %+v %v", changes, err)
	}
	changes, err = ParseDynamics(fixture(t, "units/dynamics_flow_products.json"), rub)
	if err != nil || len(changes) != 1 || changes[0].Units != 3 || changes[0].Amount != 4_500_000 {
		t.Fatalf("dynamics products: %+v %v", changes, err)
	}
	changes, err = ParseDynamics(fixture(t, "units/dynamics_flow_products.json"), Settings{Currency: "RUB", UnitsField: "new_units_sold"})
	if err != nil || changes[0].Units != 4 {
		t.Fatalf("dynamics column: %+v %v", changes, err)
	}
	bad := strings.Replace(string(fixture(t, "units/dynamics_flow_products.json")), `"quantity":1}`, `"quantity":"lots"}`, 1)
	changes, err = ParseDynamics([]byte(bad), rub)
	if err != nil || changes[0].Units != 0 || !strings.Contains(changes[0].UnitsNote, "product_opportunities[1].quantity") {
		t.Fatalf("dynamics bad quantity: %+v %v", changes, err)
	}
}

func FuzzBitrixRowsUnits(f *testing.F) {
	f.Add(fixture(f, "units/bitrix24_productrows.json"))
	f.Add([]byte(`[{"QUANTITY":"1,5"},{"quantity":null},[],"x"]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := BitrixRowsUnits(raw)
		if err == nil && (n < 0 || n > MaxUnits || n != n) {
			t.Fatalf("%v units accepted", n)
		}
	})
}

func FuzzFieldUnits(f *testing.F) {
	for _, s := range []string{"2 шт", "1,5", "две", "1 000", "+4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := FieldUnits(s)
		if err == nil && (n < 0 || n > MaxUnits || n != n) {
			t.Fatalf("%q: %v units accepted", s, n)
		}
	})
}
