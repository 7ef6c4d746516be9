// Package redrive is the "throughline redrive" command. It reads dead
// letters from the dead-letter topic — the source of truth; the ClickHouse
// table is a copy for reading — selects them by source, time and reason, and
// re-submits each to the collector's re-drive endpoint, which passes the
// payload to the normal route of its source as the account it was received
// for. The fixed pipeline processes it like a new delivery and derives the
// same event ids, so re-driving twice is harmless.
package redrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options select dead letters and say where to re-drive them.
type Options struct {
	Source     string    // exact source ("crm:bitrix24"), or a prefix ending in "*" ("crm:*")
	Since      time.Time // received at or after
	Until      time.Time // received before; zero: no bound
	ReasonLike string    // SQL LIKE pattern on the reason (% any, _ one character); empty: any
	Tenant     string
	Account    string
	DryRun     bool
	Limit      int // most dead letters re-driven in one run

	Collector string // collector base URL
	Token     string // the collector's --collector-redrive-token
	Kafka     kafka.Config
	Timeout   time.Duration // per re-drive request
}

// Summary is what a run did.
type Summary struct {
	Scanned, Matched, Redriven, Failed int
	LimitReached                       bool
}

// Run is "throughline redrive [flags]". It returns the exit code: 0 done,
// 1 some dead letters were not re-driven, 2 bad usage.
func Run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "throughline redrive:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := Redrive(ctx, opts, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "throughline redrive:", err)
		return 1
	}
	if sum.Failed > 0 {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("throughline redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o            Options
		since, until string
	)
	flagenv.String(fs, &o.Source, "source", "", `dead letters of this source: "crm:bitrix24", or a prefix such as "crm:*" (required)`)
	flagenv.String(fs, &since, "since", "", `received at or after: 2026-11-01, an RFC 3339 time, or a duration ago such as 24h or 7d (required)`)
	flagenv.String(fs, &until, "until", "", "received before (same forms as --since; default: now)")
	flagenv.String(fs, &o.ReasonLike, "reason-like", "", `SQL LIKE pattern the reason must match, e.g. 'fetch failed%'`)
	flagenv.String(fs, &o.Tenant, "tenant", "", "only this tenant's dead letters")
	flagenv.String(fs, &o.Account, "account", "", "only this account's dead letters")
	flagenv.Bool(fs, &o.DryRun, "dry-run", false, "print what would be re-driven, re-drive nothing")
	flagenv.Int(fs, &o.Limit, "limit", 10000, "most dead letters re-driven in one run")
	flagenv.String(fs, &o.Collector, "collector", "http://127.0.0.1:8080", "collector base URL")
	flagenv.Secret(fs, &o.Token, "collector-redrive-token", "the collector's re-drive token (its --collector-redrive-token)")
	flagenv.Duration(fs, &o.Timeout, "redrive-timeout", time.Minute, "how long one re-drive may take")
	o.Kafka.RegisterFlags(fs, "throughline-redrive")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: throughline redrive --source crm:bitrix24 --since 2026-11-01 [--reason-like 'fetch failed%'] [--dry-run]")
		fs.PrintDefaults()
	}
	if err := flagenv.Parse(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Kafka.Resolve()
	now := time.Now()
	var err error
	if since == "" {
		return o, errors.New("--since is required")
	}
	if o.Since, err = ParseTime(since, now); err != nil {
		return o, fmt.Errorf("--since: %w", err)
	}
	if until != "" {
		if o.Until, err = ParseTime(until, now); err != nil {
			return o, fmt.Errorf("--until: %w", err)
		}
	}
	return o, o.Validate()
}

// Validate names the option that is wrong.
func (o Options) Validate() error {
	switch {
	case o.Source == "":
		return errors.New("--source is required (e.g. crm:bitrix24, or crm:* for every CRM)")
	case o.Since.IsZero():
		return errors.New("--since is required")
	case !o.Until.IsZero() && !o.Until.After(o.Since):
		return errors.New("--until must be after --since")
	case o.Limit < 1:
		return errors.New("--limit must be at least 1")
	case !o.DryRun && o.Token == "":
		return errors.New("--collector-redrive-token (THROUGHLINE_COLLECTOR_REDRIVE_TOKEN) is required to re-drive")
	case o.Timeout <= 0:
		return errors.New("--redrive-timeout must be positive")
	}
	return o.Kafka.Validate()
}

// ParseTime reads 2026-11-01 (UTC midnight), an RFC 3339 time, or a
// duration before now ("24h", "90m", "7d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-11-01), an RFC 3339 time or a duration (24h, 7d)", s)
}

// like compiles a SQL LIKE pattern: % any run, _ one character, \ escapes.
func like(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	esc := false
	for _, r := range pattern {
		switch {
		case esc:
			b.WriteString(regexp.QuoteMeta(string(r)))
			esc = false
		case r == '\\':
			esc = true
		case r == '%':
			b.WriteString(`.*`)
		case r == '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.Compile(b.String())
}

// idlePoll is how long a poll may bring nothing before the read ends.
const idlePoll = 5 * time.Second

// letter is a dead letter with where it was read from.
type letter struct {
	partition int32
	offset    int64
	raw       []byte
	dl        event.DeadLetter
}

func (o Options) matches(dl *event.DeadLetter, reason *regexp.Regexp) bool {
	if p, ok := strings.CutSuffix(o.Source, "*"); ok {
		if !strings.HasPrefix(dl.Source, p) {
			return false
		}
	} else if dl.Source != o.Source {
		return false
	}
	at := time.UnixMilli(dl.ReceivedAt)
	switch {
	case at.Before(o.Since), !o.Until.IsZero() && !at.Before(o.Until):
		return false
	case o.Tenant != "" && dl.Tenant != o.Tenant, o.Account != "" && dl.Account != o.Account:
		return false
	case reason != nil && !reason.MatchString(dl.Reason):
		return false
	}
	return true
}

// Redrive selects dead letters from the topic and re-drives them (or, with
// DryRun, prints them), writing one line per dead letter and a summary.
func Redrive(ctx context.Context, o Options, out io.Writer) (Summary, error) {
	var sum Summary
	var reason *regexp.Regexp
	if o.ReasonLike != "" {
		var err error
		if reason, err = like(o.ReasonLike); err != nil {
			return sum, fmt.Errorf("--reason-like: %w", err)
		}
	}
	letters, scanned, more, err := read(ctx, o, reason)
	sum.Scanned, sum.Matched, sum.LimitReached = scanned, len(letters), more
	if err != nil {
		return sum, err
	}
	client := &http.Client{Timeout: o.Timeout}
	defer client.CloseIdleConnections()
	for _, l := range letters {
		line := fmt.Sprintf("%s[%d]@%d %s/%s %s received %s reason %q", kafka.TopicDeadLetter, l.partition, l.offset,
			l.dl.Tenant, l.dl.Account, l.dl.Source, time.UnixMilli(l.dl.ReceivedAt).UTC().Format(time.RFC3339), clip(l.dl.Reason, 160))
		if o.DryRun {
			fmt.Fprintln(out, "would re-drive", line)
			continue
		}
		status, body, err := post(ctx, client, o, l.raw)
		switch {
		case err != nil:
			return sum, err
		case status == http.StatusOK:
			var a struct {
				Status int    `json:"status"`
				Body   string `json:"body"`
			}
			_ = json.Unmarshal(body, &a)
			ok := a.Status >= 200 && a.Status < 300
			if ok {
				sum.Redriven++
			} else {
				sum.Failed++
			}
			fmt.Fprintf(out, "re-drove %s -> %d %s\n", line, a.Status, clip(a.Body, 300))
		case status == http.StatusUnauthorized || status == http.StatusNotFound && bytes.Contains(body, []byte("re-drive is off")):
			return sum, fmt.Errorf("the collector refused the re-drive: %d %s", status, clip(string(body), 300))
		default:
			sum.Failed++
			fmt.Fprintf(out, "refused %s -> %d %s\n", line, status, clip(string(body), 300))
		}
	}
	verb := "re-driven"
	if o.DryRun {
		verb = "would re-drive"
	}
	done := sum.Redriven
	if o.DryRun {
		done = sum.Matched
	}
	fmt.Fprintf(out, "scanned %d dead letters, matched %d, %s %d, failed %d\n", sum.Scanned, sum.Matched, verb, done, sum.Failed)
	if sum.LimitReached {
		fmt.Fprintf(out, "stopped at --limit %d: run again for the rest\n", o.Limit)
	}
	return sum, nil
}

func post(ctx context.Context, client *http.Client, o Options, raw []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.Collector, "/")+"/v1/internal/redrive", bytes.NewReader(raw))
	if err != nil {
		return 0, nil, fmt.Errorf("building re-drive request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+o.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("re-driving through %s: %w", o.Collector, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the collector's answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// read returns the matching dead letters, in partition and offset order,
// from the first record produced at or after Since up to the end of the
// topic as it was when the run started — so what the run re-drives and gets
// dead-lettered again is not read a second time.
func read(ctx context.Context, o Options, reason *regexp.Regexp) (out []letter, scanned int, more bool, err error) {
	base := kafka.BaseOpts(o.Kafka, zerolog.Nop())
	adm, err := kgo.NewClient(base...)
	if err != nil {
		return nil, 0, false, fmt.Errorf("creating kafka client: %w", err)
	}
	defer adm.Close()
	ka := kadm.NewClient(adm)
	ends, err := ka.ListEndOffsets(ctx, kafka.TopicDeadLetter)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("listing the end of %s: %w", kafka.TopicDeadLetter, err)
	}
	starts, err := ka.ListOffsetsAfterMilli(ctx, o.Since.UnixMilli(), kafka.TopicDeadLetter)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("finding %s at %s: %w", kafka.TopicDeadLetter, o.Since.Format(time.RFC3339), err)
	}
	parts := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition → end offset still to reach
	ends.Each(func(e kadm.ListedOffset) {
		start := e.Offset
		if s, ok := starts.Lookup(kafka.TopicDeadLetter, e.Partition); ok && s.Offset >= 0 {
			start = s.Offset
		}
		if start < e.Offset {
			parts[e.Partition] = kgo.NewOffset().At(start)
			remaining[e.Partition] = e.Offset
		}
	})
	if len(parts) == 0 {
		return nil, 0, false, nil
	}
	cl, err := kgo.NewClient(append(base, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.TopicDeadLetter: parts}))...)
	if err != nil {
		return nil, 0, false, fmt.Errorf("creating kafka consumer: %w", err)
	}
	defer cl.Close()
	for len(remaining) > 0 {
		// Everything up to the end offsets is already written, so a quiet
		// poll means only transaction markers are left before them.
		pctx, cancel := context.WithTimeout(ctx, idlePoll)
		fs := cl.PollFetches(pctx)
		idle := pctx.Err() != nil
		cancel()
		if err := ctx.Err(); err != nil {
			return out, scanned, false, fmt.Errorf("reading %s: %w", kafka.TopicDeadLetter, err)
		}
		if idle && len(fs.Records()) == 0 {
			break
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("reading %s[%d]: %w", kafka.TopicDeadLetter, p, err)
			}
		})
		if ferr != nil {
			return out, scanned, false, ferr
		}
		for _, r := range fs.Records() {
			end, ok := remaining[r.Partition]
			if !ok || r.Offset >= end {
				continue
			}
			if r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			scanned++
			var dl event.DeadLetter
			if json.Unmarshal(r.Value, &dl) != nil || !o.matches(&dl, reason) {
				continue
			}
			if len(out) == o.Limit {
				return out, scanned, true, nil
			}
			out = append(out, letter{partition: r.Partition, offset: r.Offset, raw: r.Value, dl: dl})
		}
	}
	return out, scanned, false, nil
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
