package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// killGrace is how long past its time limit a statement may run before the
// watchdog kills it: the engine's own max_execution_time usually stops it
// first, within this.
const killGrace = 2 * time.Second

// markerPrefix starts the log_comment of every /v1/sql statement; the rest
// is random, so KILL QUERY finds that statement and no other.
const markerPrefix = "throughline-sql-"

func newMarker() string {
	b := make([]byte, 12)
	rand.Read(b)
	return markerPrefix + hex.EncodeToString(b)
}

// sessioner is a store with a second connection to the same engine
// (chstore.Embedded).
type sessioner interface {
	Session() (chstore.Store, error)
}

// sqlStoreOf is the store /v1/sql runs on: the store's second connection
// where it has one, so users' statements and the pipeline's never wait for
// each other; else the store itself (a ClickHouse server runs statements
// side by side anyway).
func sqlStoreOf(s chstore.Store) (chstore.Store, error) {
	ss, ok := s.(sessioner)
	if !ok {
		return s, nil
	}
	sql, err := ss.Session()
	if err != nil {
		return nil, fmt.Errorf("console: opening the SQL connection: %w", err)
	}
	return sql, nil
}

// watchdog kills the statement marked marker once QueryTimeout+killGrace
// has passed, or ctx ends (the caller hung up), and again every killGrace
// while it runs (it may have been waiting for its connection). stop ends
// the watchdog and reports whether it killed.
func (c *Console) watchdog(ctx context.Context, marker string) (stop func() bool) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var killed atomic.Bool
	go func() {
		defer close(finished)
		t := time.NewTimer(c.cfg.QueryTimeout + killGrace)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-ctx.Done():
		case <-t.C:
		}
		tick := time.NewTicker(killGrace)
		defer tick.Stop()
		for {
			if n := c.kill(marker); n > 0 {
				killed.Store(true)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() bool {
		close(done)
		<-finished
		return killed.Load()
	}
}

// kill stops the statement marked marker, on the pipeline's connection
// (the statement's own is busy running it), and says how many it stopped.
func (c *Console) kill(marker string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.store.Query(ctx, "KILL QUERY WHERE Settings['log_comment'] = {m:String} ASYNC", chstore.Params{"m": marker})
	if err != nil {
		c.log.Warn().Err(err).Msg("killing a sql statement past its limit failed")
		return 0
	}
	if len(res.Rows) > 0 {
		c.log.Warn().Dur("limit", c.cfg.QueryTimeout).Msg("sql statement past its limit killed")
		c.kills.Add(ctx, int64(len(res.Rows)))
	}
	return len(res.Rows)
}
