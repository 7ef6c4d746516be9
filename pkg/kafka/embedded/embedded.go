// Package embedded runs the kfake Kafka-protocol broker inside the process for
// the embedded mode, on a fixed port and with its data on disk, so that outside
// clients (kcat, kafka-go) can connect and data survives a restart.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/throughline/throughline/pkg/kafka"
)

// Config of the embedded broker.
type Config struct {
	// Host is the address the broker listens on, default 127.0.0.1: only
	// this host's processes reach it. Any other address needs SASL.
	Host string
	Port int // listen port, default 9092
	// SASLUser and SASLPassword turn on SASL/PLAIN: a client that does not
	// log in as this user can neither produce nor read.
	SASLUser, SASLPassword string
	DataDir                string // where kfake persists its log
	SyncWrites             bool   // fsync every produced batch (survives power loss, slower)
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	dir     string
	sasl    [2]string // user, password; empty without SASL
	// Repaired lists the transactions a killed previous run left open that
	// got their abort markers at this start (see repairUnmarkedAborts).
	Repaired []Repaired
}

// Start starts kfake with persistence.
func Start(c Config) (*Broker, error) {
	if c.Port <= 0 || c.Port > 65535 {
		return nil, fmt.Errorf("kafka port: %d is not a valid port", c.Port)
	}
	host := c.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if !loopback(host) && c.SASLUser == "" {
		return nil, fmt.Errorf("kafka listen address %s is reachable from other hosts: set a SASL user and password (anyone reaching the port could produce events or read every tenant's data)", host)
	}
	if c.SASLUser != "" && len(c.SASLPassword) < 16 {
		return nil, errors.New("kafka SASL password: shorter than 16 characters")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating kafka data dir: %w", err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(c.Port),
		kfake.DataDir(c.DataDir),
		kfake.ClusterID("throughline-embedded"),
		// kfake listens on 127.0.0.1; this moves it to the configured host.
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, port))
		}),
	}
	if c.SASLUser != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser("PLAIN", c.SASLUser, c.SASLPassword))
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
	b := &Broker{cluster: cl, addr: cl.ListenAddrs()[0], dir: c.DataDir, sasl: [2]string{c.SASLUser, c.SASLPassword}}
	if wasKilled {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if b.Repaired, err = repairUnmarkedAborts(ctx, b.Client()); err != nil {
			cl.Close()
			return nil, fmt.Errorf("repairing transactions the last run left open: %w", err)
		}
	}
	return b, nil
}

// Client is how this process's clients reach the broker: its address
// and, with SASL on, the login.
func (b *Broker) Client() kafka.Config {
	return kafka.Config{Brokers: []string{b.addr}, SASLUser: b.sasl[0], SASLPassword: b.sasl[1], Replication: 1}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
