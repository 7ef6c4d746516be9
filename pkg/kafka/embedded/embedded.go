// Package embedded runs the kfake Kafka-protocol broker inside the process for
// the embedded mode, on a fixed port and with its data on disk, so that outside
// clients (kcat, kafka-go) can connect and data survives a restart.
package embedded

import (
	"fmt"
	"os"

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
}

// Start starts kfake with persistence.
func Start(c Config) (*Broker, error) {
	if c.Port <= 0 || c.Port > 65535 {
		return nil, fmt.Errorf("kafka port: %d is not a valid port", c.Port)
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
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
	cl, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded kafka on port %d: %w", c.Port, err)
	}
	return &Broker{cluster: cl, addr: cl.ListenAddrs()[0]}, nil
}

// Addr is host:port of the broker.
func (b *Broker) Addr() string { return b.addr }

// Cluster exposes kfake for fault injection in tests.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker, flushing its data to disk.
func (b *Broker) Close() { b.cluster.Close() }
