package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/throughline/throughline/pkg/chhttp"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/schemas"
)

// serveClickHouse is `throughline clickhouse`: the embedded engine alone,
// with its tables migrated, serving ClickHouse's HTTP interface — a
// ClickHouse "server" for services run as separate processes
// (--clickhouse-mode server --clickhouse-protocol http) and for data teams.
func serveClickHouse(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("throughline clickhouse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dataDir, tenantsFile, database string
		logFlags                       cli.LogFlags
		httpCfg                        chhttp.Config
	)
	flagenv.String(fs, &dataDir, "data-dir", "data", "where the embedded ClickHouse keeps its data (<data-dir>/clickhouse)")
	flagenv.String(fs, &tenantsFile, "tenants-file", "", "tenants file with the ClickHouse users (default: <data-dir>/tenants.yaml)")
	flagenv.String(fs, &database, "clickhouse-database", "throughline", "database of Throughline's tables")
	logFlags.RegisterFlags(fs, true)
	httpCfg.RegisterFlags(fs)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "throughline clickhouse:", err)
		return 2
	}
	if tenantsFile == "" {
		tenantsFile = filepath.Join(dataDir, "tenants.yaml")
	}
	if !httpCfg.Enabled() {
		fmt.Fprintln(stderr, "throughline clickhouse: clickhouse-http-addr: required (the interface is all this command serves)")
		return 2
	}
	log, err := logFlags.Logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "throughline clickhouse:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintln(stderr, "throughline clickhouse:", err)
		return 1
	}
	cfg, err := tenants.Load(tenantsFile)
	if err != nil {
		return fail(err)
	}
	if cfg.ClickHouse.Admin == nil {
		return fail(fmt.Errorf("%s: clickhouse.admin: required (the services connect as it)", tenantsFile))
	}
	store, err := chstore.OpenEmbedded(filepath.Join(dataDir, "clickhouse"))
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	if err := schemas.Migrate(ctx, store, database); err != nil {
		return fail(err)
	}
	srv, err := chhttp.New(httpCfg, chhttp.Deps{Log: log, Store: store, Tenants: cfg, Database: database})
	if err != nil {
		return fail(err)
	}
	if err := srv.Listen(); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "\nThroughline's embedded ClickHouse (data in %s)\n\n  clickhouse  http://%s   (user %s, see %s)\n\n",
		filepath.Join(dataDir, "clickhouse"), srv.Addr(), cfg.ClickHouse.Admin.User, tenantsFile)
	if err := srv.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}
