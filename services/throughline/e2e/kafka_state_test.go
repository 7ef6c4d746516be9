package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// dumpKafka logs what a stalled pipeline is waiting on: partitions whose
// last stable offset lags their end (an open transaction), the groups and
// their members, open transactions and the producers holding them.
func (n *node) dumpKafka(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", n.kafkaPort)))
	if err != nil {
		t.Log(err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	for _, topic := range []string{"throughline.stitcher.state.v1", "throughline.raw.v1", "throughline.leads.v1"} {
		st, _ := adm.ListCommittedOffsets(ctx, topic)
		hi, _ := adm.ListEndOffsets(ctx, topic)
		st.Each(func(o kadm.ListedOffset) {
			h, _ := hi.Lookup(o.Topic, o.Partition)
			if o.Offset != h.Offset {
				t.Logf("%s[%d]: LSO %d HW %d", o.Topic, o.Partition, o.Offset, h.Offset)
			}
		})
	}
	groups, err := adm.DescribeGroups(ctx)
	t.Logf("groups err %v", err)
	for g, d := range groups {
		t.Logf("group %s state %s members %d", g, d.State, len(d.Members))
		for _, m := range d.Members {
			t.Logf("  member %s instance %v client %s host %s", m.MemberID, m.InstanceID, m.ClientID, m.ClientHost)
		}
	}
	txns, err := adm.ListTransactions(ctx, nil, nil)
	t.Logf("txns err %v", err)
	for _, tx := range txns.Sorted() {
		t.Logf("txn %s pid %d state %s", tx.TxnID, tx.ProducerID, tx.State)
	}
	prods, err := adm.DescribeProducers(ctx, nil)
	t.Logf("producers err %v", err)
	for _, p := range prods.SortedPartitions() {
		for _, ps := range p.ActiveProducers.Sorted() {
			if ps.CurrentTxnStartOffset >= 0 {
				t.Logf("%s[%d] pid %d epoch %d txnStart %d", p.Topic, p.Partition, ps.ProducerID, ps.ProducerEpoch, ps.CurrentTxnStartOffset)
			}
		}
	}
}
