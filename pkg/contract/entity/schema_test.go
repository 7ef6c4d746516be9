package entity

import (
	"bytes"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The JSON schemas of the entity topics, schemas/entities/*.schema.json, are
// generated from the types below and their comments, so the published
// contract cannot drift from the records: this test fails when they differ.
// Regenerate with: go test ./pkg/contract/entity -run TestSchemas -update
var update = flag.Bool("update", false, "rewrite schemas/entities from the entity types")

var schemaDir = filepath.Join("..", "..", "..", "schemas", "entities")

var published = []struct {
	name, topic string
	v           any
}{
	{"session", "throughline.sessions.v1", Session{}},
	{"call", "throughline.calls.v1", Call{}},
	{"lead", "throughline.leads.v1", Lead{}},
	{"deal", "throughline.deals.v1", Deal{}},
	{"attribution", "throughline.attribution.v1", Attribution{}},
}

func TestSchemas(t *testing.T) {
	docs := fieldDocs(t)
	for _, p := range published {
		got := schemaOf(p.name, p.topic, reflect.TypeOf(p.v), docs)
		path := filepath.Join(schemaDir, p.name+".schema.json")
		if *update {
			if err := os.MkdirAll(schemaDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate with -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the %s type; regenerate with -update", path, p.name)
		}
	}
}

// TestSchemasDescribeRecords: every field a real record carries is in its
// schema, with the schema's JSON type.
func TestSchemasDescribeRecords(t *testing.T) {
	recs := map[string]any{
		"session":     &Session{Meta: Meta{Tenant: "t", Account: "a", Version: 3}, SessionID: "s", Start: 1, Hits: 2, Channel: "direct", Campaign: "c", ClickID: "x"},
		"call":        &Call{Meta: Meta{Tenant: "t", Account: "a", Version: 1, Deleted: true}, CallID: "c", Answered: true, TalkSec: 40, Static: true},
		"lead":        &Lead{Meta: Meta{Tenant: "t", Account: "a", Version: 2}, LeadID: "l", Kind: "form", CRMLeadID: "9", RevenueMinor: 5},
		"deal":        &Deal{Meta: Meta{Tenant: "t", Account: "a", Version: 2}, DealID: "d", Outcome: "won", WonAt: 7, AmountMinor: 100},
		"attribution": &Attribution{Meta: Meta{Tenant: "t", Account: "a", Version: 2}, LeadID: "l", Model: "linear", Weight: 0.5, RevenueMinor: 2.5},
	}
	for name, rec := range recs {
		b, err := os.ReadFile(filepath.Join(schemaDir, name+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		var schema struct {
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
			Required []string `json:"required"`
		}
		if err := json.Unmarshal(b, &schema); err != nil {
			t.Fatal(err)
		}
		enc, _ := json.Marshal(rec)
		var fields map[string]any
		if err := json.Unmarshal(enc, &fields); err != nil {
			t.Fatal(err)
		}
		for k, v := range fields {
			prop, ok := schema.Properties[k]
			if !ok {
				t.Errorf("%s: field %q is not in the schema", name, k)
				continue
			}
			if got := jsonType(v); got != prop.Type && !(prop.Type == "integer" && got == "number") {
				t.Errorf("%s.%s: record has %s, schema says %s", name, k, got, prop.Type)
			}
		}
		for _, r := range schema.Required {
			if _, ok := fields[r]; !ok {
				t.Errorf("%s: required %q missing from a record", name, r)
			}
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		return "number"
	}
	return "unknown"
}

// fieldDocs reads the comments of entity.go: type.field → text.
func fieldDocs(t *testing.T) map[string]string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "entity.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fl := range st.Fields.List {
			text := strings.TrimSpace(fl.Comment.Text() + " " + fl.Doc.Text())
			for _, n := range fl.Names {
				docs[ts.Name.Name+"."+n.Name] = strings.Join(strings.Fields(text), " ")
			}
		}
		return false
	})
	return docs
}

// schemaOf is the JSON schema of an entity type: fields without omitempty
// are required; Meta's fields are inlined.
func schemaOf(name, topic string, typ reflect.Type, docs map[string]string) []byte {
	type prop struct {
		Type        string `json:"type"`
		Description string `json:"description,omitempty"`
	}
	props := map[string]prop{}
	var required []string
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			tag := strings.Split(f.Tag.Get("json"), ",")
			p := prop{Description: docs[typ.Name()+"."+f.Name]}
			switch f.Type.Kind() {
			case reflect.String:
				p.Type = "string"
			case reflect.Bool:
				p.Type = "boolean"
			case reflect.Float64:
				p.Type = "number"
			default:
				p.Type = "integer"
			}
			props[tag[0]] = p
			if len(tag) == 1 {
				required = append(required, tag[0])
			}
		}
	}
	walk(typ)
	s := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://throughline.dev/schemas/entities/" + name + ".v1.json",
		"title":       "Throughline " + name + " record (topic " + topic + ", record value)",
		"description": "Written by the stitcher in Kafka transactions: read with isolation.level=read_committed. Record key: \"<tenant>/<account>\". The latest version of an entity wins; deleted=true removes it. Times are Unix milliseconds (UTC); *_minor amounts are in minor currency units. Generated from pkg/contract/entity.",
		"type":        "object",
		"required":    required,
		"properties":  props,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(s) //nolint:errcheck // maps of strings always encode
	return buf.Bytes()
}
