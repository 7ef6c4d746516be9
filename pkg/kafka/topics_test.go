package kafka

import (
	"strings"
	"testing"
	"time"
)

func TestTopicsDeclaredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, tp := range Topics {
		if seen[tp.Name] {
			t.Errorf("%s declared twice", tp.Name)
		}
		seen[tp.Name] = true
		if !strings.HasPrefix(tp.Name, "throughline.") || !strings.HasSuffix(tp.Name, ".v1") || tp.Partitions < 1 {
			t.Errorf("%+v", tp)
		}
	}
	if !seen[TopicNumbers] {
		t.Errorf("%s is not created at start", TopicNumbers)
	}
}

// A starting collector reads the leases of the longest lease a pool may
// have (24h, tenants' limit) plus a minute back from TopicNumbers: they must
// still be there, and compaction (by account key) would drop them.
func TestNumbersTopicHoldsTheLongestLease(t *testing.T) {
	for _, tp := range Topics {
		if tp.Name != TopicNumbers {
			continue
		}
		if tp.Compacted || tp.Retention < 24*time.Hour+time.Minute {
			t.Fatalf("%+v: must keep every lease of the last 24h", tp)
		}
		c := tp.Configs()
		if *c["cleanup.policy"] != "delete" || *c["retention.ms"] != "172800000" {
			t.Fatalf("configs: cleanup.policy %s retention.ms %s", *c["cleanup.policy"], *c["retention.ms"])
		}
		// Retention deletes whole segments: with the default 7-day segment
		// the leases would stay on disk for a week.
		if seg, ok := c["segment.ms"]; !ok || *seg != "21600000" {
			t.Fatalf("configs: segment.ms %v, want 6h", c["segment.ms"])
		}
	}
}
