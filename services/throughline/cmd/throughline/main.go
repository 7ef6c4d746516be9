// Command throughline runs the whole Throughline pipeline in one process on
// the embedded defaults (Kafka: kfake, ClickHouse: chDB), optionally with a
// simulated franchise network sending demo traffic, and queries it.
//
//	throughline run      the pipeline
//	throughline demo     the pipeline and demo traffic
//	throughline kafka    the embedded Kafka broker alone
//	throughline clickhouse  the embedded ClickHouse alone, over its HTTP interface
//	throughline query    run one read-only SQL statement against the console
//	throughline redrive  re-submit dead letters to the collector after a fix
//	throughline ddl      print the ClickHouse DDL, plain or for a cluster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/schemas/ddlcmd"
	"github.com/throughline/throughline/services/collector/redrive"
	"github.com/throughline/throughline/services/console/querycmd"
	"github.com/throughline/throughline/services/throughline/internal/app"
	"github.com/throughline/throughline/services/throughline/internal/demo"
	"github.com/throughline/throughline/services/throughline/internal/restate"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	privateFiles()
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		setGCDefaults()
		return serve(args, false, stdout, stderr)
	case "demo":
		setGCDefaults()
		return serve(args, true, stdout, stderr)
	case "kafka":
		return serveKafka(args, stdout, stderr)
	case "clickhouse":
		return serveClickHouse(args, stdout, stderr)
	case "query":
		return querycmd.Run(args, stdout, stderr)
	case "redrive":
		return redrive.Run(args, stdout, stderr)
	case "ddl":
		return ddlcmd.Run(args, stdout, stderr)
	case "restate":
		return restate.Run(args, stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "throughline: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: throughline [run|demo|kafka|clickhouse|query|redrive|restate|ddl] [flags]

  run     run the pipeline in one process (embedded Kafka + ClickHouse)
  demo    run the pipeline with a simulated franchise network sending traffic
  kafka   the embedded Kafka broker alone, for services run as separate processes (docs/operations.md)
  clickhouse  the embedded ClickHouse alone, serving ClickHouse's HTTP interface (users from the tenants file)
  query   run one read-only SQL statement: throughline query "SELECT count() FROM throughline.events"
  redrive re-submit dead letters after a fix: throughline redrive --source 'crm:*' --since 24h
  restate apply today's channel rules to history: throughline restate --tenant acme --from 2026-11-01
  ddl     print the ClickHouse DDL, plain or for a cluster: throughline ddl --cluster NAME

Run "throughline run -h" for the settings; every flag can also be set as $THROUGHLINE_<FLAG>.
`)
}

func serve(args []string, withDemo bool, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("throughline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg app.Config
	cfg.RegisterFlags(fs)
	var dcfg demo.Config
	if withDemo {
		dcfg.RegisterFlags(fs)
	}
	var pprofAddr string
	flagenv.String(fs, &pprofAddr, "pprof-addr", "", "loopback address serving Go's /debug/pprof/ profiles, e.g. 127.0.0.1:6060 (empty: off)")
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "throughline:", err)
		return 2
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "throughline:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if pprofAddr != "" {
		closePprof, err := servePprof(pprofAddr)
		if err != nil {
			fmt.Fprintln(stderr, "throughline:", err)
			return 2
		}
		defer closePprof()
	}
	prepared, rulesPrepared := "", ""
	var alerts *demo.AlertReceiver
	if withDemo {
		// The console always wants a token: the demo's admin token is
		// generated once and kept in the data dir, unless one is given.
		if cfg.Console.SQLToken == "" {
			tok, _, err := demo.AdminToken(cfg.DataDir)
			if err != nil {
				fmt.Fprintln(stderr, "throughline:", err)
				return 1
			}
			cfg.Console.SQLToken = tok
		}
		// The backfill sends days of history, Mango's signed summaries
		// among them: the demo's own collector takes them as a re-drive
		// would, instead of refusing them as replays.
		if w := dcfg.Backfill + 24*time.Hour; dcfg.Backfill > 0 && cfg.Collector.ReplayWindow > 0 && cfg.Collector.ReplayWindow < w {
			cfg.Collector.ReplayWindow = w
		}
		// The simulated CRMs listen before the tenants file is read, so the
		// file can name where they are (and an older demo's file gets the
		// integrations it lacks).
		crm, err := demo.ListenCRM(dcfg.CRMAddr)
		if err != nil {
			fmt.Fprintln(stderr, "throughline:", err)
			return 1
		}
		defer crm.Close()
		dcfg.CRM = crm
		if prepared, err = demo.PrepareTenantsFile(cfg.TenantsFile, crm.URL()); err != nil {
			fmt.Fprintln(stderr, "throughline:", err)
			return 1
		}
		// The demo's alert receiver, and rules with windows for a live demo
		// unless the user has rules of their own.
		if alerts, err = demo.ListenAlerts(dcfg.AlertsAddr); err != nil {
			fmt.Fprintln(stderr, "throughline:", err)
			return 1
		}
		defer alerts.Close()
		if cfg.Alerter.RulesDir == "" {
			cfg.Alerter.RulesDir = filepath.Join(cfg.DataDir, "alerts")
			if rulesPrepared, err = demo.PrepareAlertRules(cfg.Alerter.RulesDir, alerts.URL()); err != nil {
				fmt.Fprintln(stderr, "throughline:", err)
				return 1
			}
		}
	}
	logOut := stderr
	if withDemo && dcfg.Backfill > 0 && demo.IsTerminal(stderr) {
		// The history's progress bar, with the logs written above it.
		dcfg.Progress = demo.NewProgressBar(stderr)
		logOut = dcfg.Progress
	}
	a, err := app.Start(ctx, cfg, logOut)
	if err != nil {
		fmt.Fprintln(stderr, "throughline:", err)
		return 1
	}
	printBanner(stdout, &cfg, a, withDemo)
	if withDemo {
		dcfg.CollectorURL = "http://" + localAddr(cfg.Collector.Addr)
		log := a.Log()
		if prepared != "" {
			log.Info().Str("path", cfg.TenantsFile).Str("action", prepared).Str("crm_server", dcfg.CRM.URL()).Msg("demo tenants file prepared")
		}
		if rulesPrepared != "" {
			log.Info().Str("path", cfg.Alerter.RulesDir).Str("action", rulesPrepared).Msg("demo alert rules prepared")
		}
		alerts.SetLogger(log.With().Str("component", "demo").Logger())
		if dcfg.Backfill > 0 {
			behind, closeLag, err := demo.PipelineBehind(a.Kafka(), log)
			if err != nil {
				fmt.Fprintln(stderr, "throughline:", err)
				return 1
			}
			defer closeLag()
			dcfg.Behind = behind
			if cfg.Refresher.Aggregates.Interval > 0 {
				dcfg.ReportsAsOf = a.AggregatesAsOf
			}
		}
		dcfg.Meter = a.Meter()
		go func() {
			if err := demo.Run(ctx, dcfg, a.Tenants(), log.With().Str("component", "demo").Logger()); err != nil && ctx.Err() == nil {
				log.Error().Err(err).Msg("demo generator stopped")
			}
		}()
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "throughline:", err)
		return 1
	}
	return 0
}

func printBanner(w io.Writer, cfg *app.Config, a *app.App, withDemo bool) {
	console := "http://" + localAddr(cfg.Console.Addr)
	collectorURL := "http://" + localAddr(cfg.Collector.Addr)
	fmt.Fprintf(w, `
Throughline is running (embedded mode, data in %s)

  collector  %s   (GET /px.gif, POST /v1/events, /metrics)
  console    %s   (POST /v1/sql, /v1/reports/channels, /metrics)
  dashboard  %s/dashboard/
  kafka      %s   (kcat -b %s -L)
%s  tenants    %s
`, cfg.DataDir, collectorURL, console, console, a.KafkaAddr(), a.KafkaAddr(), clickhouseLine(a, withDemo), cfg.TenantsFile)
	if !withDemo {
		// No secret on the terminal: it ends up in scrollback, logs and
		// screen shares. They are in the tenants file and the flags.
		fmt.Fprintf(w, `
  log in:    the dashboard asks for a read token (read_tokens in the tenants file)
  query:     THROUGHLINE_SQL_TOKEN=<--sql-token> bin/throughline query --console %s "SELECT type, count() FROM throughline.events GROUP BY type"
  a hit:     curl -so /dev/null "%s/px.gif?k=<a site key>&cid=me&u=https://example.com/%%3Futm_source%%3Dtest"

`, console, collectorURL)
		return
	}
	t, acc := demoCredentials(a)
	fmt.Fprintf(w, `
  The demo's own credentials (generated for this data dir, kept in %s
  and %s/%s; not for anything but the demo):
  log in:    the dashboard's read token  %s
  query:     THROUGHLINE_SQL_TOKEN=%s bin/throughline query --console %s "SELECT type, count() FROM throughline.events GROUP BY type"
  a hit:     curl -so /dev/null "%s/px.gif?k=%s&cid=me&u=https://example.com/%%3Futm_source%%3Dtest"   (%s's site key)
  demo:      a simulated franchise network is sending traffic; Ctrl-C stops everything
  alerts:    rules in %s; notifications show here as "demo alert" lines and on the dashboard

`, cfg.TenantsFile, cfg.DataDir, demo.AdminTokenFile, firstOf(t.ReadTokens), cfg.Console.SQLToken, console,
		collectorURL, acc.SiteKey(), acc.ID, cfg.Alerter.RulesDir)
}

// demoCredentials is the demo network's tenant and its first account.
func demoCredentials(a *app.App) (tenants.Tenant, tenants.Account) {
	for _, t := range a.Tenants().Tenants {
		if t.ID == demo.TenantID && len(t.Accounts) > 0 {
			return t, t.Accounts[0]
		}
	}
	return tenants.Tenant{}, tenants.Account{ID: "none"}
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return "<none>"
	}
	return s[0]
}

// clickhouseLine is the banner's line of the ClickHouse HTTP interface.
// Only the demo's banner has the admin's password in it; run prints no
// secret.
func clickhouseLine(a *app.App, withDemo bool) string {
	addr := a.ClickHouseHTTPAddr()
	if addr == "" {
		return ""
	}
	if !withDemo {
		return fmt.Sprintf("  clickhouse  http://%s   (any ClickHouse client or BI tool, users from the tenants file: docs/bi.md)\n", addr)
	}
	return fmt.Sprintf("  clickhouse  %s   (any ClickHouse client or BI tool: docs/bi.md)\n", clickhouseURL(a, addr))
}

// clickhouseURL is the interface's address with the admin user of the
// tenants file in it (the banner is the operator's own terminal, as the
// read token above is).
func clickhouseURL(a *app.App, addr string) string {
	if adm := a.Tenants().ClickHouse.Admin; adm != nil {
		return "http://" + url.UserPassword(adm.User, adm.Password).String() + "@" + addr
	}
	return "http://" + addr + " (no users: add clickhouse.admin to the tenants file)"
}

// localAddr turns a listen address like ":8080" into one a client can dial.
func localAddr(addr string) string {
	if len(addr) > 0 && addr[0] == ':' {
		return "127.0.0.1" + addr
	}
	return addr
}
