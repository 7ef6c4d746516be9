// Package embedded runs the kfake Kafka-protocol broker inside the process for
// the embedded mode, on a fixed port and with its data on disk, so that outside
// clients (kcat, kafka-go) can connect and data survives a restart.
package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config of the embedded broker.
type Config struct {
	Port       int    // listen port, default 9092
	DataDir    string // where kfake persists its log
	SyncWrites bool   // fsync every produced batch (survives power loss, slower)
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	dir     string
	// Repaired lists the transactions a killed previous run left open that
	// got their abort markers at this start (see repairUnmarkedAborts).
	Repaired []Repaired
}

// Start starts kfake with persistence.
func Start(c Config) (*Broker, error) {
	if c.Port <= 0 || c.Port > 65535 {
		return nil, fmt.Errorf("kafka port: %d is not a valid port", c.Port)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating kafka data dir: %w", err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(c.Port),
		kfake.DataDir(c.DataDir),
		kfake.ClusterID("throughline-embedded"),
	}
	if c.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	wasKilled, err := crashed(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("reading kafka data dir: %w", err)
	}
	cl, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded kafka on port %d: %w", c.Port, err)
	}
	b := &Broker{cluster: cl, addr: cl.ListenAddrs()[0], dir: c.DataDir}
	if wasKilled {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if b.Repaired, err = repairUnmarkedAborts(ctx, b.addr); err != nil {
			cl.Close()
			return nil, fmt.Errorf("repairing transactions the last run left open: %w", err)
		}
	}
	return b, nil
}

// Addr is host:port of the broker.
func (b *Broker) Addr() string { return b.addr }

// Cluster exposes kfake for fault injection in tests.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker, flushing its data to disk, and marks the data dir
// as shut down cleanly.
func (b *Broker) Close() {
	b.cluster.Close()
	// Best effort: without the mark the next start only does a repair scan.
	_ = os.WriteFile(filepath.Join(b.dir, cleanMark), nil, 0o600)
}
