package collector

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// readerOpts are the options of a client that reads what the collector
// published (leases, recent event ids, the cost-pull election): the
// producer's connection options plus extra. Several such clients start at
// once, and kgo.NewClient rewrites the codec list it is given in place, so
// each gets its own copy of the options and a codec list of its own (a
// reader compresses nothing) instead of sharing the producer's.
func (c *Collector) readerOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := slices.Clone(c.deps.Producer.Opts())
	opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	return append(opts, extra...)
}
