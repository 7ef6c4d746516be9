package chhttp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func openGo(t *testing.T, user, pass, db string, method clickhouse.CompressionMethod) clickhouse.Conn {
	t.Helper()
	e := startEnv(t)
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.HTTP, Addr: []string{e.srv.Addr()},
		Auth:        clickhouse.Auth{Database: db, Username: user, Password: pass},
		Compression: &clickhouse.Compression{Method: method},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestClickHouseGo: clickhouse-go v2 over HTTP reads typed values in each
// of its compressions, gets the server's exceptions, and a tenant's user
// sees only its rows. (The store's whole suite runs over it too:
// chstore.TestServerOverHTTP.)
func TestClickHouseGo(t *testing.T) {
	ctx := context.Background()
	for _, m := range []clickhouse.CompressionMethod{clickhouse.CompressionNone, clickhouse.CompressionLZ4, clickhouse.CompressionZSTD, clickhouse.CompressionGZIP} {
		conn := openGo(t, adminUser, adminPass, "default", m)
		var (
			u   uint64
			lc  string
			ts  time.Time
			mp  map[string]string
			arr []string
			n   *string
		)
		err := conn.QueryRow(ctx, `SELECT toUInt64(18446744073709551615), toLowCardinality('google'), toDateTime64('2026-03-04 05:06:07.890', 3, 'UTC'),
			map('k', 'v'), ['a', ''], CAST(NULL AS Nullable(String))`).Scan(&u, &lc, &ts, &mp, &arr, &n)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if u != 18446744073709551615 || lc != "google" || ts.UnixMilli() != 1772600767890 || mp["k"] != "v" || len(arr) != 2 || n != nil {
			t.Fatalf("%v: scanned %v %v %v %v %v %v", m, u, lc, ts, mp, arr, n)
		}
		var ex *clickhouse.Exception
		if err := conn.Exec(ctx, "SELEC 1"); !errors.As(err, &ex) || ex.Code != 62 {
			t.Fatalf("%v: syntax error came back as %v", m, err)
		}
	}
	tenant := openGo(t, userA, passA, "tl", clickhouse.CompressionLZ4)
	var count uint64
	if err := tenant.QueryRow(ctx, "SELECT count() FROM events WHERE tenant IN ('acme', 'globex')").Scan(&count); err != nil || count != 2 {
		t.Fatalf("tenant count %d, %v", count, err)
	}
	var ex *clickhouse.Exception
	if _, err := tenant.Query(ctx, "SELECT * FROM system.query_log"); !errors.As(err, &ex) || ex.Code != 497 {
		t.Fatalf("tenant reading query_log: %v", err)
	}
}
