package analytics

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/schemas"
)

// The benchmark's network: REPORT_BENCH_SESSIONS sessions (default 10M) and
// REPORT_BENCH_LEADS leads (1M) over 100 branches and 90 days, generated in
// the engine with INSERT … SELECT FROM numbers(); 2% of the sessions are
// re-stated once (a second version on another channel), a third of the
// leads have a deal, half of those won; half the leads have two touches.
// Costs: one campaign per branch and day, three central campaigns per day.
type benchNet struct {
	db                    string
	sessions, leads, took int64
	refresh               time.Duration
	from, to              time.Time
}

var (
	benchOnce sync.Once
	benchData *benchNet
	benchErr  error
)

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

const benchChannels = `['yandex_direct', 'google_ads', 'vk_ads', 'organic', 'direct', 'referral']`
const benchSources = `['yandex', 'google', 'vk', 'yandex', '(direct)', 'partner.ru']`
const benchMediums = `['cpc', 'cpc', 'cpc', 'organic', '(none)', 'referral']`

func buildBenchNet(ctx context.Context) (*benchNet, error) {
	n := &benchNet{db: fmt.Sprintf("bench_%d", os.Getpid()),
		sessions: envInt("REPORT_BENCH_SESSIONS", 10_000_000), leads: envInt("REPORT_BENCH_LEADS", 1_000_000)}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n.from, n.to = start, start.AddDate(0, 0, 90) // the last sessions fall on day 91 in Moscow
	if err := schemas.Migrate(ctx, engine, n.db); err != nil {
		return nil, err
	}
	t0 := time.Now()
	p := chstore.Params{
		"n": strconv.FormatInt(n.sessions, 10), "l": strconv.FormatInt(n.leads, 10),
		"start": strconv.FormatInt(start.UnixMilli(), 10), "span": strconv.FormatInt(90*24*3600*1000, 10),
	}
	stmts := []string{
		// Sessions, spread evenly over the 90 days; person = session / 10.
		`INSERT INTO ${db}.sessions (tenant, account, session_id, version, deleted, person_id, started_at, ended_at, hits,
    channel, source, medium, campaign, _topic, _partition, _offset)
SELECT 'bench', concat('b', toString(number % 100)), toString(number), 1, 0, toString(intDiv(number, 10)),
       fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {span:UInt64}, {n:UInt64})), 'UTC') AS at, at, 1,
       ` + benchChannels + `[c] , ` + benchSources + `[c], ` + benchMediums + `[c],
       if(c <= 3, concat('camp', toString(cityHash64(number, 2) % 5)), ''), 'bench', 0, number
FROM (SELECT number, toUInt8(cityHash64(number) % 6 + 1) AS c FROM numbers({n:UInt64}))`,
		// 2% re-stated: a second version on the next channel.
		`INSERT INTO ${db}.sessions (tenant, account, session_id, version, deleted, person_id, started_at, ended_at, hits,
    channel, source, medium, campaign, _topic, _partition, _offset)
SELECT 'bench', concat('b', toString(number % 100)), toString(number), 2, 0, toString(intDiv(number, 10)),
       fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {span:UInt64}, {n:UInt64})), 'UTC') AS at, at, 2,
       ` + benchChannels + `[c], ` + benchSources + `[c], ` + benchMediums + `[c],
       if(c <= 3, concat('camp', toString(cityHash64(number, 2) % 5)), ''), 'bench', 0, {n:UInt64} + number
FROM (SELECT number, toUInt8((cityHash64(number) + 1) % 6 + 1) AS c FROM numbers({n:UInt64}) WHERE number % 50 = 0)`,
		// Leads: one per person of the first l/… sessions' persons, over the 90 days.
		`INSERT INTO ${db}.leads (tenant, account, lead_id, version, deleted, person_id, ts, kind, contacts, last_contact_at,
    channel, source, medium, campaign, touches, deals, won_deals, revenue_minor, _topic, _partition, _offset)
SELECT 'bench', concat('b', toString(number % 100)), concat('L', toString(number)), 1, 0, concat('q', toString(number)),
       fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {span:UInt64}, {l:UInt64})), 'UTC') AS at,
       ['form', 'call'][number % 2 + 1], 1, at,
       ` + benchChannels + `[c], ` + benchSources + `[c], ` + benchMediums + `[c], '', 1 + (number % 2 = 0),
       number % 3 = 0, number % 6 = 0, if(number % 6 = 0, 1000000 + (number % 1000) * 100, 0), 'bench', 1, number
FROM (SELECT number, toUInt8(cityHash64(number, 7) % 6 + 1) AS c FROM numbers({l:UInt64}))`,
		// Attribution: six models × one or two touches per lead.
		`INSERT INTO ${db}.attribution (tenant, account, lead_id, model, touch, version, deleted, touches, lead_ts, touch_ts,
    session_id, channel, source, medium, campaign, weight, revenue_minor, _topic, _partition, _offset)
SELECT 'bench', concat('b', toString(lead % 100)), concat('L', toString(lead)),
       ['first_click', 'last_click', 'last_non_direct', 'linear', 'time_decay', 'position_based'][m + 1] AS model,
       touch, 1, 0, touches,
       fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(lead * {span:UInt64}, {l:UInt64})), 'UTC') AS at, at, '',
       ` + benchChannels + `[c], ` + benchSources + `[c], ` + benchMediums + `[c],
       if(c <= 3, concat('camp', toString(cityHash64(lead, touch) % 5)), ''),
       multiIf(touches = 1, 1., m = 0, toFloat64(touch = 0), m IN (1, 2), toFloat64(touch = 1), 0.5) AS w,
       w * if(lead % 6 = 0, 1000000 + (lead % 1000) * 100, 0), 'bench', 2, number
FROM
(
    SELECT number, intDiv(number, 12) AS lead, intDiv(number, 2) % 6 AS m, toUInt16(number % 2) AS touch,
           toUInt16(1 + (lead % 2 = 0)) AS touches, toUInt8(cityHash64(lead, touch) % 6 + 1) AS c
    FROM numbers({l:UInt64} * 12)
)
WHERE touch < touches`,
		// Deals of a third of the leads, half of them won.
		`INSERT INTO ${db}.deals (tenant, account, deal_id, version, deleted, provider, crm_deal_id, person_id, lead_id,
    created_at, updated_at, outcome, amount_minor, currency, revenue_minor, won_at, changes, _topic, _partition, _offset)
SELECT 'bench', concat('b', toString(number % 100)), concat('D', toString(number)), 1, 0, 'generic', toString(number),
       concat('q', toString(number)), concat('L', toString(number)),
       fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {span:UInt64}, {l:UInt64})), 'UTC') AS at, at,
       if(number % 6 = 0, 'won', 'open'), 1000000 + (number % 1000) * 100, 'RUB',
       if(number % 6 = 0, 1000000 + (number % 1000) * 100, 0), at, 1, 'bench', 3, number
FROM numbers({l:UInt64}) WHERE number % 3 = 0`,
		// Costs: per branch and day google_ads campCN; central yandex_direct camp0..camp2.
		`INSERT INTO ${db}.costs (tenant, account, date, channel, source, medium, campaign, campaign_id, amount_minor, currency,
    clicks, impressions, central, import_id, row_id, kind, import_rows, upload, imported_at, _topic, _partition, _offset)
SELECT 'bench', acc, toDate(fromUnixTimestamp64Milli({start:Int64}, 'UTC')) + d, ch, src, 'cpc', camp, '', amount, 'RUB', clicks, clicks * 30,
       acc = '*', 'bench-1', toString(number), 'row', 0, 'costs:generic', now64(3), 'bench', 4, number
FROM
(
    SELECT number, intDiv(number, 103) AS d, number % 103 AS i,
           if(i < 100, concat('b', toString(i)), '*') AS acc,
           if(i < 100, 'google_ads', 'yandex_direct') AS ch, if(i < 100, 'google', 'yandex') AS src,
           concat('camp', toString(if(i < 100, d % 5, i - 100))) AS camp,
           toInt64(50000 + cityHash64(number) % 500000) AS amount, toInt64(cityHash64(number, 1) % 300) AS clicks
    FROM numbers(90 * 103)
)`,
		`INSERT INTO ${db}.costs (tenant, account, date, channel, central, import_id, row_id, kind, import_rows, upload, imported_at,
    _topic, _partition, _offset)
SELECT 'bench', account, toDate(0), '', account = '*', 'bench-1', concat('commit/', account), 'commit', toUInt32(count()),
       'costs:generic', now64(3), 'bench', 5, rowNumberInAllBlocks()
FROM ${db}.costs WHERE kind = 'row' GROUP BY account`,
	}
	for i, s := range stmts {
		if err := engine.Exec(ctx, strings.ReplaceAll(s, "${db}", n.db), p); err != nil {
			return nil, fmt.Errorf("generating bench data, statement %d: %w", i+1, err)
		}
	}
	n.took = int64(time.Since(t0).Seconds())
	r, err := aggregates.NewRefresher(aggregates.RefreshConfig{Batch: 100}, aggregates.RefreshDeps{Store: engine, Database: n.db, Zones: moscow})
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	if _, err := r.Rebuild(ctx); err != nil {
		return nil, err
	}
	n.refresh = time.Since(t1)
	return n, nil
}

func quantile(ds []time.Duration, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return float64(s[i].Microseconds()) / 1000
}

// BenchmarkChannelReport measures the channel report over 90 days and 100
// branches from the aggregates (p50, p95) against the same report computed
// by scanning the entity tables (scan-p95), on the network above. The
// numbers of the two are checked equal first. REPORT_BENCH_SCANS sets how
// many scans are timed (default 5: one takes seconds).
func BenchmarkChannelReport(b *testing.B) {
	ctx := context.Background()
	benchOnce.Do(func() { benchData, benchErr = buildBenchNet(ctx) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	n := benchData
	reports := NewReports(engine, n.db, moscow)
	q := Query{Tenant: "bench", From: n.from, To: n.to, Model: DefaultModel, By: []Dim{DimChannel}, Margin: 0.3, Currency: "RUB"}
	agg, err := reports.Report(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	scan, err := reports.Scan(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	if !sameMeasures(agg.Total.Measures, scan.Total.Measures) || len(agg.Rows) != len(scan.Rows) {
		b.Fatalf("aggregates %+v differ from the scan %+v", agg.Total.Measures, scan.Total.Measures)
	}
	if int64(agg.Total.Sessions) != n.sessions {
		b.Fatalf("report counts %v sessions, want %d", agg.Total.Sessions, n.sessions)
	}
	b.ResetTimer()
	var took []time.Duration
	for range b.N {
		t0 := time.Now()
		if _, err := reports.Report(ctx, q); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	var scans []time.Duration
	for range envInt("REPORT_BENCH_SCANS", 5) {
		t0 := time.Now()
		if _, err := reports.Scan(ctx, q); err != nil {
			b.Fatal(err)
		}
		scans = append(scans, time.Since(t0))
	}
	b.ReportMetric(quantile(took, 0.5), "p50-ms")
	b.ReportMetric(quantile(took, 0.95), "p95-ms")
	b.ReportMetric(quantile(scans, 0.95), "scan-p95-ms")
	b.ReportMetric(quantile(scans, 0.95)/quantile(took, 0.95), "scan/agg")
	b.ReportMetric(float64(n.sessions), "sessions")
	b.ReportMetric(n.refresh.Seconds(), "rebuild-s")
	b.ReportMetric(float64(n.took), "generate-s")
}
