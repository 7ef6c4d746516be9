package alerter

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaderBalancer gives every partition of every topic to the group's
// leader and none to the other members. The alerter's rules look across
// topics (leads against costs, raw events against dead letters) and across
// the accounts of a tenant, so one member must see everything; the others
// stand by. The coordinator keeps the same leader until it leaves the group,
// so members joining or leaving do not move the work; when the leader
// leaves, the new leader takes it all.
type leaderBalancer struct{}

func (leaderBalancer) ProtocolName() string { return "throughline-leader" }
func (leaderBalancer) IsCooperative() bool  { return false }

func (leaderBalancer) JoinGroupMetadata(interests []string, _ map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	return meta.AppendTo(nil)
}

func (leaderBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (b leaderBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	return cb, cb.MemberTopics(), err
}

// Balance assigns everything to the leader (the member balancing: this
// client), or to the first member when the leader is unknown.
func (leaderBalancer) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
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
