package crm

import (
	"fmt"
	"strings"
	"unicode"
)

// Units sold come from the CRM's line items where it has them (amoCRM
// catalog elements, Bitrix24 product rows, Megaplan positions, Dynamics
// opportunity products, the generic quantity/items) or from a custom field
// the account names (units_field). A change that carries none has Units 0,
// which the stitcher reads as "no news", not as "none sold".

// FieldUnits reads a units custom field as people fill them in: "2", "1,5",
// "2 шт", "3 pcs." — the leading number counts; a value with no leading
// number is an error naming it.
func FieldUnits(s string) (float64, error) {
	t := strings.TrimSpace(s)
	end := 0
	for end < len(t) && (t[end] >= '0' && t[end] <= '9' || t[end] == '.' || t[end] == ',' || t[end] == ' ' || t[end] == '+') {
		end++
	}
	num := strings.TrimSpace(strings.ReplaceAll(t[:end], " ", ""))
	rest := strings.TrimSpace(t[end:])
	// What follows the number is a unit word ("шт", "pcs"), nothing else.
	if num == "" || rest != "" && (!unicode.IsLetter([]rune(rest)[0]) || strings.IndexFunc(rest, unicode.IsDigit) >= 0) {
		return 0, fmt.Errorf("%q is not a quantity", truncate(s, 40))
	}
	return Quantity(strings.TrimPrefix(num, "+"))
}

// sumUnits adds line-item quantities, refusing a total beyond MaxUnits.
func sumUnits(field string, qs []float64) (float64, error) {
	var sum float64
	for _, q := range qs {
		sum += q
	}
	if sum > MaxUnits {
		return 0, fieldErr(field, "%v units in all, more than %v", sum, MaxUnits)
	}
	return sum, nil
}

// listUnits sums the quantity of a vendor's line items: the first of lists
// present in o, each item's first of keys. It returns the units, whether a
// list was there, and a note when a quantity could not be read.
func listUnits(o vendorObject, lists, keys []string) (float64, bool, string) {
	for _, name := range lists {
		items, ok := o.lookup(name).([]any)
		if !ok {
			continue
		}
		if len(items) > MaxItems {
			return 0, true, fmt.Sprintf("%s: more than %d line items", name, MaxItems)
		}
		qs := make([]float64, 0, len(items))
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			raw := vendorObject(m).str(keys...)
			if raw == "" {
				continue
			}
			q, err := Quantity(raw)
			if err != nil {
				return 0, true, fmt.Sprintf("%s[%d].%s: %v", name, i, keys[0], err)
			}
			qs = append(qs, q)
		}
		n, err := sumUnits(name, qs)
		if err != nil {
			return 0, true, err.Error()
		}
		return n, true, ""
	}
	return 0, false, ""
}

// fieldOrItems sets a change's units from the configured field (read by
// field), else from its line items; what cannot be read becomes UnitsNote.
func (ch *Change) fieldOrItems(s Settings, field func(name string) string, items func() (float64, bool, string)) {
	if s.UnitsField != "" {
		raw := field(s.UnitsField)
		if raw == "" {
			return
		}
		n, err := FieldUnits(raw)
		if err != nil {
			ch.UnitsNote = "units field " + s.UnitsField + ": " + err.Error()
			return
		}
		ch.Units = n
		return
	}
	n, _, note := items()
	ch.Units, ch.UnitsNote = n, note
}
