package crm

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

func TestMegaplan(t *testing.T) {
	s := rub
	s.LostStages = []string{"42"}
	cases := []struct {
		file string
		want event.CRM
	}{
		{"deal_won.json", event.CRM{Provider: Megaplan, Entity: EntityDeal, Action: ActionUpdate, DealID: "1000123",
			ContactID: "1000456", Pipeline: "7", Stage: "41", Outcome: OutcomeWon, Amount: 2_450_050, Currency: "RUB",
			Phones: []string{"+79161234567"}, Emails: []string{"ivan@example.ru"}, ClientID: "tl.8f14e45fceea167a",
			UpdatedAt: 1772349600000}},
		// Amount as a Russian-formatted string, id as a number, phones as a list.
		{"deal_created.json", event.CRM{Provider: Megaplan, Entity: EntityDeal, Action: ActionAdd, DealID: "1000124",
			ContactID: "1000457", Stage: "40", Outcome: OutcomeOpen, Amount: 1_200_000, Currency: "RUB",
			Phones: []string{"+79167654321"}, UpdatedAt: 1772352000000}},
		// Megaplan's documented example: no model, no event, no time.
		{"doc_example.json", event.CRM{Provider: Megaplan, Entity: EntityDeal, Action: ActionUpdate, DealID: "43",
			Outcome: OutcomeOpen, Amount: 18_800, Currency: "RUB"}},
		// No state type: the configured lost stage decides; "null" price is none.
		{"lost_by_stage.json", event.CRM{Provider: Megaplan, Entity: EntityDeal, Action: ActionUpdate, DealID: "1000125",
			Stage: "42", Outcome: OutcomeLost, Currency: "RUB", UpdatedAt: 1772352000000}},
		// Positions: quantities summed, a typed wrapper with a decimal comma and a count.
		{"deal_won_positions.json", event.CRM{Provider: Megaplan, Entity: EntityDeal, Action: ActionUpdate, DealID: "2000001",
			Stage: "41", Outcome: OutcomeWon, Amount: 3_000_000, Currency: "RUB", Units: 2, UpdatedAt: 1772355600000}},
	}
	for _, c := range cases {
		got, err := ParseMegaplan(fixture(t, filepath.Join("megaplan", c.file)), s)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v %v", c.file, got, err)
		}
		if !reflect.DeepEqual(got[0].CRM, c.want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", c.file, got[0].CRM, c.want)
		}
	}
	if got, err := ParseMegaplan(fixture(t, "megaplan/task.json"), s); err != nil || len(got) != 0 {
		t.Fatalf("a task is ignored: %v %v", got, err)
	}
	for file, field := range map[string]string{"no_id.json": "data.id", "bad_price.json": "data.price",
		"bad_quantity.json": "data.positions[1].quantity"} {
		_, err := ParseMegaplan(fixture(t, "megaplan/"+file), s)
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Fatalf("%s: %v, want a field error on %s", file, err, field)
		}
	}
}

func TestDynamics(t *testing.T) {
	cases := []struct {
		file string
		want event.CRM
	}{
		// A flow's entity JSON: won, so actualvalue; the custom column by suffix.
		{"flow_won.json", event.CRM{Provider: Dynamics365, Entity: EntityDeal, Action: ActionUpdate,
			DealID: "6f1c1f3e-2c5d-ef11-bfe3-000d3a2b4c5d", ContactID: "a1b2c3d4-0000-1111-2222-333344445555",
			Stage: "3", Outcome: OutcomeWon, Amount: 4_900_075, Currency: "RUB", ClientID: "tl.c9f0f895fb98ab91",
			UpdatedAt: 1772357400000}},
		// A plug-in step's RemoteExecutionContext: Target's values win over
		// the post image's; statecode 2 is lost.
		{"plugin_update.json", event.CRM{Provider: Dynamics365, Entity: EntityDeal, Action: ActionUpdate,
			DealID: "7a2d2f3e-2c5d-ef11-bfe3-000d3a2b4c5d", ContactID: "c0ffee00-0000-1111-2222-333344445555",
			Outcome: OutcomeLost, Amount: 1_800_000, Currency: "RUB", UpdatedAt: 1772362800000}},
		{"open_string_state.json", event.CRM{Provider: Dynamics365, Entity: EntityDeal, Action: ActionUpdate,
			DealID: "8b", Outcome: OutcomeOpen, Amount: 150_050, Currency: "RUB", Emails: []string{"a@b.ru"},
			UpdatedAt: 1772366400000}},
	}
	for _, c := range cases {
		got, err := ParseDynamics(fixture(t, filepath.Join("dynamics", c.file)), rub)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v %v", c.file, got, err)
		}
		if !reflect.DeepEqual(got[0].CRM, c.want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", c.file, got[0].CRM, c.want)
		}
	}
	if got, err := ParseDynamics(fixture(t, "dynamics/other_entity.json"), rub); err != nil || len(got) != 0 {
		t.Fatalf("an account's step is ignored: %v %v", got, err)
	}
	for file, field := range map[string]string{"no_id.json": "opportunityid", "broken.json": "body"} {
		_, err := ParseDynamics(fixture(t, "dynamics/"+file), rub)
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Fatalf("%s: %v, want a field error on %s", file, err, field)
		}
	}
}

func addDir(f *testing.F, dir string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	for _, p := range files {
		f.Add(fixture(f, filepath.Join(dir, filepath.Base(p))))
	}
}

func FuzzMegaplan(f *testing.F) {
	addDir(f, "megaplan")
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := ParseMegaplan(body, rub)
		if err != nil {
			var fe *event.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a field error: %v", err)
			}
			return
		}
		checkChanges(t, changes)
	})
}

func FuzzDynamics(f *testing.F) {
	addDir(f, "dynamics")
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := ParseDynamics(body, rub)
		if err != nil {
			var fe *event.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a field error: %v", err)
			}
			return
		}
		checkChanges(t, changes)
	})
}
