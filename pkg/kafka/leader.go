package kafka

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaderBalancer gives every partition of every topic to the group's leader
// and none to the other members: one active instance per group, the others
// standing by. The alerter uses it (its rules look across topics and across
// a tenant's accounts) and so do the collectors' cost pulls (one puller per
// connector). The coordinator keeps the same leader until it leaves the
// group, so members joining or leaving do not move the work; when the leader
// leaves, the new leader takes it all.
type LeaderBalancer struct{}

func (LeaderBalancer) ProtocolName() string { return "throughline-leader" }
func (LeaderBalancer) IsCooperative() bool  { return false }

func (LeaderBalancer) JoinGroupMetadata(interests []string, _ map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	return meta.AppendTo(nil)
}

func (LeaderBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (b LeaderBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	return cb, cb.MemberTopics(), err
}

// Balance assigns everything to the leader (the member balancing: this
// client), or to the first member when the leader is unknown.
func (LeaderBalancer) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	plan := b.NewPlan()
	members := b.Members()
	if len(members) == 0 {
		return plan
	}
	to := &members[0]
	leader := b.Info().LeaderID
	for i := range members {
		if members[i].MemberID == leader {
			to = &members[i]
		}
	}
	for topic := range b.MemberTopics() {
		parts := make([]int32, topics[topic])
		for p := range parts {
			parts[p] = int32(p)
		}
		plan.AddPartitions(to, topic, parts)
	}
	return plan
}
