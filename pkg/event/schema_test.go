package event

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// The published JSON schema of the raw topic must describe every field the
// envelope (and its sub-records) can carry, or outside consumers validating
// with additionalProperties=false would reject real records.
func TestSchemaCoversEnvelope(t *testing.T) {
	b, err := os.ReadFile("../../schemas/events/envelope.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	checkFields(t, "envelope", reflect.TypeOf(Envelope{}), schema)
}

func checkFields(t *testing.T, where string, typ reflect.Type, schema map[string]any) {
	props, _ := schema["properties"].(map[string]any)
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		sub, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s.%s is not in envelope.schema.json", where, name)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			checkFields(t, where+"."+name, ft, sub)
		}
	}
}
