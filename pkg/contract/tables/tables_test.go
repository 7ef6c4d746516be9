package tables

import "testing"

func TestRowRejectsGarbage(t *testing.T) {
	for _, tb := range All() {
		if _, err := tb.Row([]byte(`{"tenant":"a"}`)); err == nil {
			t.Errorf("%s: incomplete record accepted", tb.Table)
		}
		if _, err := tb.Row([]byte(`nope`)); err == nil {
			t.Errorf("%s: garbage accepted", tb.Table)
		}
	}
}
