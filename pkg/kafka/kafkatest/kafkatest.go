// Package kafkatest is Kafka for the services' tests: a kfake cluster on an
// ephemeral port with the project's topics (kafka.Topics), clients of it,
// and helpers that make the broker misbehave (hold or swallow requests of
// one kind) — so each service's tests do not build their own.
package kafkatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is a running kfake cluster; it is closed when the test ends.
type Cluster struct {
	*kfake.Cluster
	// Brokers are the cluster's addresses (127.0.0.1 and an ephemeral port).
	Brokers []string
	adm     *kadm.Client
}

// Start starts a one-broker cluster and creates every topic of
// kafka.Topics that opts (kfake.SeedTopics, say) did not.
func Start(tb testing.TB, opts ...kfake.Opt) *Cluster {
	tb.Helper()
	c := StartEmpty(tb, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, c.adm, 1, kafka.Topics); err != nil {
		tb.Fatal(err)
	}
	return c
}

// StartEmpty starts a one-broker cluster with only the topics opts seed:
// for the tests of a binary, which creates the topics itself.
func StartEmpty(tb testing.TB, opts ...kfake.Opt) *Cluster {
	tb.Helper()
	cl, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	c := &Cluster{Cluster: cl, Brokers: cl.ListenAddrs()}
	c.adm = kadm.NewClient(c.Client(tb))
	return c
}

// Config is a kafka.Config of the cluster.
func (c *Cluster) Config(clientID string) kafka.Config {
	return kafka.Config{Brokers: c.Brokers, ClientID: clientID, Replication: 1}
}

// Client is a client of the cluster with the project's base options and
// opts; it is closed when the test ends.
func (c *Cluster) Client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	return Client(tb, c.Brokers, opts...)
}

// Client is a client of brokers (a cluster, or an address where none
// listens: Kafka down) with the project's base options and opts; it is
// closed when the test ends.
func Client(tb testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	base := kafka.BaseOpts(kafka.Config{Brokers: brokers, ClientID: "test"}, zerolog.Nop())
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// EndOffset is the number of records written to topic: its end offsets
// summed over the partitions.
func (c *Cluster) EndOffset(tb testing.TB, topic string) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			tb.Fatal(o.Err)
		}
		n += o.Offset
	})
	return n
}

// Committed is group's committed offsets in topic summed over the
// partitions — the records the group consumed, each partition starting at
// 0; none for a group the broker does not know — or -1 when the broker does
// not tell (a coordinator still loading, an injected fault), so that a wait
// on it asks again.
func (c *Cluster) Committed(group, topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := c.adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return 0
	}
	if err != nil {
		return -1
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil && o.At > 0 {
			n += o.At
		}
	})
	return n
}

// Hold makes the broker wait with every request of kind key (kmsg.Produce,
// kmsg.Fetch) until release is called; then it answers them and the ones
// after as usual. release may be called more than once; the test's end
// calls it.
func (c *Cluster) Hold(tb testing.TB, key kmsg.Key) (release func()) {
	held := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	c.ControlKey(key.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-held:
			c.Cluster.DropControl()
			return nil, nil, false
		default:
		}
		c.KeepControl()
		c.SleepControl(func() { <-held })
		return nil, nil, false
	})
	tb.Cleanup(release)
	return release
}

// Swallow makes the broker never answer a request of kind key, until the
// cluster closes.
func (c *Cluster) Swallow(key kmsg.Key) {
	c.ControlKey(key.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
}
