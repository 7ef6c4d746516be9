package chhttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/throughline/throughline/pkg/chstore"
)

// The interface's cost against the engine alone, same run (scripts/bench.sh
// prints the ratios):
//
//	BenchmarkInsertHTTP   clickhouse-go over HTTP (LZ4) into the listener
//	BenchmarkInsertDirect the loader's path: chstore's Native batch into the engine
//	BenchmarkSelectHTTP/{Native,JSONEachRow}   1M rows through the listener
//	BenchmarkSelectEngine/{Native,JSONEachRow} the same query on the engine

const benchBatch = 50_000

var benchCols = []chstore.Column{
	{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "id", Type: "UInt64"},
	{Name: "ts", Type: "DateTime64(3, 'UTC')"}, {Name: "url", Type: "String"}, {Name: "utm", Type: "Map(String, String)"},
}

func benchTable(b *testing.B, name string) string {
	e := startEnv(b)
	table := fmt.Sprintf("tl.%s_%d", name, time.Now().UnixNano())
	if err := e.store.Exec(context.Background(), "CREATE TABLE "+table+
		" (tenant LowCardinality(String), id UInt64, ts DateTime64(3, 'UTC'), url String, utm Map(String, String)) ENGINE = MergeTree ORDER BY id", nil); err != nil {
		b.Fatal(err)
	}
	return table
}

func benchRow(i int) []any {
	return []any{"acme", uint64(i), time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(),
		fmt.Sprintf("https://example.com/page/%d?utm_source=google", i), map[string]string{"utm_source": "google", "utm_medium": "cpc"}}
}

func BenchmarkInsertHTTP(b *testing.B) {
	e := startEnv(b)
	table := benchTable(b, "bench_http")
	conn, err := clickhouse.Open(&clickhouse.Options{Protocol: clickhouse.HTTP, Addr: []string{e.srv.Addr()},
		Auth: clickhouse.Auth{Username: adminUser, Password: adminPass}, Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4}})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
		if err != nil {
			b.Fatal(err)
		}
		for i := range benchBatch {
			if err := batch.Append(benchRow(i)...); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkInsertDirect(b *testing.B) {
	e := startEnv(b)
	table := benchTable(b, "bench_direct")
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		batch, err := e.store.PrepareInsert(ctx, table, benchCols, "")
		if err != nil {
			b.Fatal(err)
		}
		for i := range benchBatch {
			r := benchRow(i)
			if err := batch.Append(r[0], r[1], r[2].(time.Time).UnixMilli(), r[3], r[4]); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Send(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
}

const benchSelect = "SELECT number AS id, toString(number) AS s, toDateTime64(number, 3, 'UTC') AS ts FROM numbers(1000000)"

func BenchmarkSelectHTTP(b *testing.B) {
	e := startEnv(b)
	for _, format := range []string{"Native", "JSONEachRow"} {
		b.Run(format, func(b *testing.B) {
			q := url.Values{"query": {benchSelect}, "default_format": {format}, "client_protocol_version": {"54460"}}
			for range b.N {
				req, _ := http.NewRequest(http.MethodPost, e.url+"?"+q.Encode(), nil)
				req.SetBasicAuth(adminUser, adminPass)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || n == 0 {
					b.Fatalf("status %d, %d bytes", res.StatusCode, n)
				}
			}
			b.ReportMetric(float64(b.N)*1e6/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func BenchmarkSelectEngine(b *testing.B) {
	e := startEnv(b)
	for _, format := range []string{"Native", "JSONEachRow"} {
		b.Run(format, func(b *testing.B) {
			for range b.N {
				out, err := e.store.Engine().Query(benchSelect, format)
				if err != nil || len(out) == 0 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*1e6/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
