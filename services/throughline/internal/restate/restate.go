// Package restate is the "throughline restate" command: it applies today's
// channel rules to history. It reads the hits of a tenant (or one account)
// since a date back from ClickHouse's events table — the raw input as
// accepted, kept longer than Kafka keeps the raw topic — and writes each to
// the raw topic again as a restatement record (event.TypeRestate). The
// stitcher re-decides each hit's traffic source and re-derives its person,
// emitting new versions of what changed through the normal entity topics,
// in its normal transactions; the loader and the aggregates follow. See
// docs/design/restatement.md.
package restate

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/console/client"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options select what to restate and say where the pipeline is.
type Options struct {
	Tenant, Account string
	From            time.Time
	DryRun          bool

	Console  string // console base URL (its SQL endpoint reads the events)
	SQLToken string
	Group    string // the stitcher's consumer group, to follow its progress
	Kafka    kafka.Config
	Page     int           // hits read per query
	Wait     time.Duration // longest wait for the stitcher to apply the restatement (0: do not wait)
	now      func() time.Time
}

var idRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Validate names the option that is wrong.
func (o Options) Validate() error {
	switch {
	case !idRE.MatchString(o.Tenant):
		return errors.New("--tenant is required (a tenant id: a-z, 0-9, _ and -)")
	case o.Account != "" && !idRE.MatchString(o.Account):
		return fmt.Errorf("--account: %q is not an account id", o.Account)
	case o.From.IsZero():
		return errors.New("--from is required (2026-11-01 or an RFC 3339 time)")
	case o.Page < 1 || o.Page > 100000:
		return errors.New("--page must be 1..100000")
	}
	return o.Kafka.Validate()
}

// Run is "throughline restate [flags]": 0 done, 1 failed, 2 bad usage.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("throughline restate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var from string
	flagenv.String(fs, &o.Tenant, "tenant", "", "tenant to restate (required)")
	flagenv.String(fs, &o.Account, "account", "", "only this account (default: every account of the tenant)")
	flagenv.String(fs, &from, "from", "", "restate hits at or after: 2026-11-01 (UTC) or an RFC 3339 time (required)")
	flagenv.Bool(fs, &o.DryRun, "dry-run", false, "count the hits that would be restated, send nothing")
	flagenv.String(fs, &o.Console, "console", "http://127.0.0.1:8081", "console base URL (the events are read through its SQL endpoint)")
	flagenv.Secret(fs, &o.SQLToken, "sql-token", "the console's admin token (its --sql-token)")
	flagenv.String(fs, &o.Group, "stitcher-group", "throughline-stitcher", "the stitcher's consumer group (progress)")
	flagenv.Int(fs, &o.Page, "page", 10000, "hits read per query")
	flagenv.Duration(fs, &o.Wait, "wait", 30*time.Minute, "longest wait for the stitcher to apply the restatement (0: do not wait)")
	o.Kafka.RegisterFlags(fs, "throughline-restate")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: throughline restate --tenant acme [--account msk] --from 2026-11-01 [--dry-run]")
		fs.PrintDefaults()
	}
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.Kafka.Resolve()
	if from != "" {
		t, err := parseFrom(from)
		if err != nil {
			fmt.Fprintln(stderr, "throughline restate: --from:", err)
			return 2
		}
		o.From = t
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "throughline restate:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := Restate(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "throughline restate:", err)
		return 1
	}
	return 0
}

func parseFrom(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-11-01) or an RFC 3339 time", s)
}

// Summary is what a run did.
type Summary struct {
	ID      string // the restatement's id: events.name of its records
	Hits    int    // restatement records sent (or, dry run, that would be)
	Applied bool   // the stitcher committed past every one of them
}

// Restate reads the hits and sends them as restatement records, then waits
// for the stitcher to apply them, printing progress to out. The records
// before and after the hits (state start and done) mark the run in the
// events table, where the dashboard sees it. Sending the same hits twice is
// harmless: a hit already decided under today's rules changes nothing.
func Restate(ctx context.Context, o Options, out io.Writer) (Summary, error) {
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	sum := Summary{ID: "r" + now().UTC().Format("20060102T150405")}
	scope := o.Tenant
	if o.Account != "" {
		scope += "/" + o.Account
	}
	fmt.Fprintf(out, "restatement %s of %s from %s\n", sum.ID, scope, o.From.UTC().Format(time.RFC3339))

	var cl *kgo.Client
	if !o.DryRun {
		var err error
		opts := append(kafka.BaseOpts(o.Kafka, zerolog.Nop()), kafka.ProducerOpts(o.Page+100)...)
		if cl, err = kgo.NewClient(opts...); err != nil {
			return sum, fmt.Errorf("creating Kafka client: %w", err)
		}
		defer cl.Close()
	}
	last := map[int32]int64{} // partition → offset of the last record sent
	send := func(recs []*kgo.Record) error {
		if cl == nil || len(recs) == 0 {
			return nil
		}
		res := cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			return fmt.Errorf("producing restatement records: %w", err)
		}
		for _, r := range res {
			if r.Record.Offset > last[r.Record.Partition] {
				last[r.Record.Partition] = r.Record.Offset
			}
		}
		return nil
	}
	// A marker (no client id: the stitcher applies nothing) records the
	// run's start and end in the account's events.
	marker := func(state, account string) *kgo.Record {
		e := event.Envelope{V: event.Version, ID: sum.ID + ":" + state, Tenant: o.Tenant, Account: account,
			Type: event.TypeRestate, Source: event.SourceRestate, Name: sum.ID, TS: now().UnixMilli(), ReceivedAt: now().UnixMilli(),
			Props: map[string]string{"state": state, "from": o.From.UTC().Format(time.RFC3339), "hits": strconv.Itoa(sum.Hits)}}
		return record(e)
	}
	if o.Account != "" { // a tenant-wide run marks each account as it reaches it
		if err := send([]*kgo.Record{marker("start", o.Account)}); err != nil {
			return sum, err
		}
	}
	accounts := map[string]bool{}
	after := cursor{ts: o.From.UnixMilli() - 1}
	for {
		page, err := o.read(ctx, after)
		if err != nil {
			return sum, err
		}
		recs := make([]*kgo.Record, 0, len(page))
		for _, e := range page {
			after = cursor{ts: e.TS, id: e.ID, account: e.Account}
			e.Type, e.Source, e.Name, e.ReceivedAt = event.TypeRestate, event.SourceRestate, sum.ID, now().UnixMilli()
			e.Props = map[string]string{event.RestateHit: e.ID}
			e.ID = sum.ID + "/" + e.ID
			if o.Account == "" && !accounts[e.Account] && !o.DryRun {
				accounts[e.Account] = true
				recs = append(recs, marker("start", e.Account))
			}
			recs = append(recs, record(e))
		}
		if err := send(recs); err != nil {
			return sum, err
		}
		sum.Hits += len(page)
		if len(page) > 0 {
			fmt.Fprintf(out, "  read and sent %d hits (up to %s)\n", sum.Hits, time.UnixMilli(after.ts).UTC().Format(time.RFC3339))
		}
		if len(page) < o.Page {
			break
		}
	}
	if o.DryRun {
		fmt.Fprintf(out, "dry run: %d hits would be restated\n", sum.Hits)
		return sum, nil
	}
	fmt.Fprintf(out, "sent %d hits on %d partitions\n", sum.Hits, len(last))
	if o.Wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Wait)
		defer cancel()
		if err := waitApplied(wctx, kadm.NewClient(cl), o.Group, last, out); err != nil {
			return sum, err
		}
		sum.Applied = true
	}
	// The done marks: after the stitcher applied the hits when we waited
	// for it, so the dashboard shows the run until then.
	var done []*kgo.Record
	if o.Account != "" {
		done = append(done, marker("done", o.Account))
	}
	for a := range accounts {
		done = append(done, marker("done", a))
	}
	if err := send(done); err != nil {
		return sum, err
	}
	if sum.Applied {
		fmt.Fprintf(out, "restatement %s applied by the stitcher; the loader brings the new versions into ClickHouse\n", sum.ID)
	}
	return sum, nil
}

func record(e event.Envelope) *kgo.Record {
	v, err := json.Marshal(&e)
	if err != nil {
		panic(err) // an envelope of strings and maps always marshals
	}
	return &kgo.Record{Topic: kafka.TopicRaw, Key: e.Key(), Value: v}
}

// waitApplied waits until the stitcher's group has committed past the last
// record sent to every partition: its transactions commit input offsets
// with their output, so the restatement's new versions are in the entity
// topics.
func waitApplied(ctx context.Context, adm *kadm.Client, group string, last map[int32]int64, out io.Writer) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	reported := -1
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			done := 0
			for p, off := range last {
				if o, ok := offs.Lookup(kafka.TopicRaw, p); ok && o.At > off {
					done++
				}
			}
			if done != reported {
				fmt.Fprintf(out, "  stitcher: %d of %d partitions applied\n", done, len(last))
				reported = done
			}
			if done == len(last) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the stitcher (group %s): %w; the records are sent and will be applied when it runs", group, ctx.Err())
		case <-tick.C:
		}
	}
}

// cursor is where the last page ended: hits are read in (ts, event id,
// account) order.
type cursor struct {
	ts          int64
	id, account string
}

// read returns the next page of hits after c. The values are ids and a
// number checked by Validate, so the statement is built as text: the
// console's SQL endpoint takes no parameters.
func (o Options) read(ctx context.Context, c cursor) ([]event.Envelope, error) {
	where := fmt.Sprintf("tenant = '%s' AND type IN ('pageview', 'goal', 'event') AND client_id != ''", o.Tenant)
	if o.Account != "" {
		where += fmt.Sprintf(" AND account = '%s'", o.Account)
	}
	where += fmt.Sprintf(" AND (toUnixTimestamp64Milli(ts), event_id, account) > (%d, '%s', '%s')", c.ts, escape(c.id), escape(c.account))
	sql := fmt.Sprintf(`SELECT account, event_id, toString(toUnixTimestamp64Milli(ts)), client_id, url, referrer,
  utm_source, utm_medium, utm_campaign, utm_content, utm_term, toJSONString(click_ids)
FROM throughline.events
WHERE %s
ORDER BY toUnixTimestamp64Milli(ts), event_id, account
LIMIT 1 BY tenant, account, event_id
LIMIT %d`, where, o.Page)
	body, truncated, err := client.QueryWithTruncation(ctx, o.Console, o.SQLToken, sql, "json")
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	if truncated {
		return nil, errors.New("reading events: the console cut the answer; lower --page below its --console-max-rows")
	}
	var ans struct {
		Rows [][]string `json:"rows"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("reading events: decoding the answer: %w", err)
	}
	out := make([]event.Envelope, 0, len(ans.Rows))
	for _, r := range ans.Rows {
		if len(r) != 12 {
			return nil, fmt.Errorf("reading events: %d columns, want 12", len(r))
		}
		ts, err := strconv.ParseInt(r[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reading events: ts %q: %w", r[2], err)
		}
		e := event.Envelope{V: event.Version, Tenant: o.Tenant, Account: r[0], ID: r[1], TS: ts, ClientID: r[3],
			URL: r[4], Referrer: r[5], UTM: event.UTM{Source: r[6], Medium: r[7], Campaign: r[8], Content: r[9], Term: r[10]}}
		if r[11] != "" && r[11] != "{}" {
			if err := json.Unmarshal([]byte(r[11]), &e.ClickIDs); err != nil {
				return nil, fmt.Errorf("reading events: click ids %q: %w", r[11], err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// escape quotes a value for a single-quoted ClickHouse string literal.
func escape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
