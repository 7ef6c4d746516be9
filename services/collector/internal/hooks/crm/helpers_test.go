package crm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// fixture reads testdata/<name>.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// formFixture reads a .form fixture — one decoded key=value pair per line,
// "#" comments — and encodes it the way the vendors send it.
func formFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	return encodeForm(tb, fixture(tb, name))
}

func encodeForm(tb testing.TB, lines []byte) []byte {
	tb.Helper()
	var parts []string
	sc := bufio.NewScanner(bytes.NewReader(lines))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return []byte(strings.Join(parts, "&"))
}

// bitrixResult is the "result" object of a crm.*.get fixture.
func bitrixResult(tb testing.TB, name string) json.RawMessage {
	tb.Helper()
	var a struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(fixture(tb, name), &a); err != nil {
		tb.Fatal(err)
	}
	return a.Result
}

var testPrincipal = tenants.Principal{Tenant: "acme", Account: "moscow"}

var received = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// leadsFromFile answers amoCRM lead pulls from fixtures: a vendor system
// standing in for amoCRM in the parser tests (the HTTP client is tested
// against a local server in package fetch and the collector).
type leadsFromFile map[string][]byte

func (l leadsFromFile) Lead(_ context.Context, id string) (json.RawMessage, error) {
	if b, ok := l[id]; ok {
		return b, nil
	}
	return nil, ErrNotFound
}

// bitrixFromFile does the same for Bitrix24's crm.*.get.
type bitrixFromFile map[string]json.RawMessage // "crm.deal.get 1234" → result

func (b bitrixFromFile) Get(_ context.Context, method, id string) (json.RawMessage, error) {
	if r, ok := b[method+" "+id]; ok {
		return r, nil
	}
	return nil, ErrNotFound
}

// List answers list methods (crm.deal.productrows.get) the same way.
func (b bitrixFromFile) List(ctx context.Context, method, id string) (json.RawMessage, error) {
	return b.Get(ctx, method, id)
}
