package alerter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/alerter/internal/clock"
	"github.com/throughline/throughline/services/alerter/internal/engine"
)

// maxSkew is how far ahead of the wall clock an input's event time counts.
const maxSkew = time.Minute

// inputs are the topics the alerter reads.
var inputs = []string{kafka.TopicLeads, kafka.TopicCalls, kafka.TopicDeals, kafka.TopicRaw, kafka.TopicCosts, kafka.TopicDeadLetter}

// history is how far back a topic is read when the partitions are taken.
func (a *Alerter) history(topic string) time.Duration {
	if topic == kafka.TopicRaw || topic == kafka.TopicDeadLetter {
		return a.cfg.RawHistory
	}
	return a.cfg.History
}

// assignment is where each taken partition starts and what end it must
// reach before the alerter is caught up.
type assignment struct {
	parts map[clock.TP][2]int64 // start, target
}

// session is the state of one assignment: everything is rebuilt when the
// partitions are taken again.
type session struct {
	eng       *engine.Engine
	wm        *clock.Watermark
	restored  bool
	live      bool
	replaying bool // live, but a source sends history: verdicts withheld
	lastFull  time.Time
	started   time.Time
}

func (a *Alerter) run(ctx context.Context) error {
	// Offsets are listed through a client of their own: the group's
	// callbacks may run before the group client is returned.
	admin, err := kgo.NewClient(kafka.BaseOpts(a.deps.Kafka, a.log)...)
	if err != nil {
		return fmt.Errorf("creating kafka admin client: %w", err)
	}
	defer admin.Close()
	a.admin = kadm.NewClient(admin)

	opts := append(kafka.BaseOpts(a.deps.Kafka, a.log), kafka.ProducerOpts(10000)...)
	opts = append(opts,
		kgo.ConsumerGroup(a.cfg.Group),
		kgo.ConsumeTopics(inputs...),
		kgo.Balancers(kafka.LeaderBalancer{}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // their offsets tell when a partition is read to its end
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(a.adjustOffsets),
		kgo.OnPartitionsRevoked(a.lose("partitions revoked")),
		kgo.OnPartitionsLost(a.lose("partitions lost")),
	)
	opts = append(opts, a.hooks.clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating kafka client: %w", err)
	}
	defer cl.Close()
	defer func() {
		// Alert records still buffered must reach the topic: the next
		// instance reads them back to know what it need not notify again.
		fctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
		defer cancel()
		if err := cl.Flush(fctx); err != nil {
			a.log.Error().Err(err).Str("topic", kafka.TopicAlerts).Msg("alert records not flushed at shutdown")
		}
	}()
	a.producer = cl

	var s *session
	for {
		if ctx.Err() != nil {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, a.cfg.Tick)
		fetches := cl.PollRecords(pctx, a.cfg.MaxPollRecords)
		cancel()
		// The group changes assignments only between polls (BlockRebalanceOnPoll).
		a.mu.Lock()
		as, revoked := a.assign, a.revoked
		a.assign, a.revoked = nil, false
		a.mu.Unlock()
		if revoked && s != nil {
			s = nil
			a.state.Store(StateStandby)
			a.log.Info().Msg("standing by")
		}
		if as != nil {
			s = a.newSession(as)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				a.log.Warn().Err(err).Str("topic", topic).Int32("partition", p).Msg("fetch failed")
			}
		})
		if s == nil {
			cl.AllowRebalance()
			continue
		}
		changed := a.process(s, fetches)
		cl.AllowRebalance()
		if !s.restored {
			if err := a.restore(ctx, cl); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				a.log.Error().Err(err).Str("topic", kafka.TopicAlerts).Msg("reading open incidents failed, retrying")
			} else {
				s.restored = true
			}
		}
		a.evaluate(s, changed)
	}
}

func (a *Alerter) newSession(as *assignment) *session {
	s := &session{eng: engine.New(a.cat, a.deps.Tenants), wm: clock.New(a.cfg.IdleLag, maxSkew), started: a.hooks.wall()}
	s.wm.DetectReplay(a.cfg.ReplayAge)
	var behind int64
	for tp, se := range as.parts {
		s.wm.Assign(tp, se[0], se[1])
		behind += se[1] - se[0]
	}
	a.state.Store(StateCatchingUp)
	a.log.Info().Int("partitions", len(as.parts)).Int64("records_behind", behind).Msg("partitions taken, catching up")
	return s
}

// adjustOffsets starts every taken partition at its history (the group's
// committed offsets only show lag) and notes the ends to catch up to.
func (a *Alerter) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	adm := a.admin
	wall := a.hooks.wall()
	topics := make([]string, 0, len(offsets))
	for t := range offsets {
		topics = append(topics, t)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	as := &assignment{parts: map[clock.TP][2]int64{}}
	out := map[string]map[int32]kgo.Offset{}
	for t, parts := range offsets {
		starts, err := adm.ListOffsetsAfterMilli(ctx, wall.Add(-a.history(t)).UnixMilli(), t)
		if err == nil {
			err = starts.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing offsets of %s after its history start: %w", t, err)
		}
		out[t] = map[int32]kgo.Offset{}
		for p := range parts {
			start, ok1 := starts.Lookup(t, p)
			end, ok2 := ends.Lookup(t, p)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("no offsets of %s/%d", t, p)
			}
			out[t][p] = kgo.NewOffset().At(start.Offset).WithEpoch(-1)
			as.parts[clock.TP{Topic: t, Partition: p}] = [2]int64{start.Offset, max(end.Offset, start.Offset)}
		}
	}
	a.mu.Lock()
	a.assign = as
	a.revoked = false
	a.mu.Unlock()
	return out, nil
}

func (a *Alerter) lose(msg string) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(context.Context, *kgo.Client, map[string][]int32) {
		a.mu.Lock()
		a.revoked = true
		a.assign = nil
		a.mu.Unlock()
		a.log.Info().Msg(msg)
	}
}

// process feeds a poll's records to the engine and the clock.
func (a *Alerter) process(s *session, fetches kgo.Fetches) bool {
	wall := a.hooks.wall()
	changed := false
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		tp := clock.TP{Topic: p.Topic, Partition: p.Partition}
		end := p.LastStableOffset
		if end <= 0 {
			end = p.HighWatermark
		}
		s.wm.End(tp, end)
		n := 0
		for _, r := range p.Records {
			if r.Attrs.IsControl() {
				s.wm.Observe(tp, r.Offset, time.Time{}, wall)
				continue
			}
			ts, age, err := a.apply(s.eng, r)
			if err != nil {
				a.met.bad.Add(context.Background(), 1, topicAttr(r.Topic))
				a.log.Debug().Err(err).Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).Msg("skipping undecodable record")
				ts = r.Timestamp
			}
			if ts.IsZero() {
				ts = r.Timestamp
			}
			s.wm.Observe(tp, r.Offset, ts, wall)
			if age >= 0 {
				s.wm.Arrived(tp, age, wall)
			}
			n++
		}
		if n > 0 {
			changed = true
			a.met.records.Add(context.Background(), int64(n), topicAttr(p.Topic))
		}
	})
	return changed
}

// apply decodes one input record into the engine and returns its event
// time and, for raw events, how long after they happened they arrived (-1:
// not known).
func (a *Alerter) apply(eng *engine.Engine, r *kgo.Record) (time.Time, time.Duration, error) {
	switch r.Topic {
	case kafka.TopicLeads:
		var l entity.Lead
		if err := json.Unmarshal(r.Value, &l); err != nil {
			return time.Time{}, -1, fmt.Errorf("decoding lead: %w", err)
		}
		eng.Lead(&l)
		return msTime(max(l.TS, l.LastContactAt)), -1, nil
	case kafka.TopicCalls:
		var c entity.Call
		if err := json.Unmarshal(r.Value, &c); err != nil {
			return time.Time{}, -1, fmt.Errorf("decoding call: %w", err)
		}
		eng.Call(&c)
		return msTime(c.TS), -1, nil
	case kafka.TopicDeals:
		var d entity.Deal
		if err := json.Unmarshal(r.Value, &d); err != nil {
			return time.Time{}, -1, fmt.Errorf("decoding deal: %w", err)
		}
		eng.Deal(&d)
		return msTime(d.UpdatedAt), -1, nil
	case kafka.TopicRaw, kafka.TopicCosts:
		e, err := event.Decode(r.Value)
		if err != nil {
			return time.Time{}, -1, err
		}
		eng.Envelope(&e)
		age := time.Duration(-1)
		if r.Topic == kafka.TopicRaw && e.TS > 0 && e.ReceivedAt > 0 {
			age = max(time.Duration(e.ReceivedAt-e.TS)*time.Millisecond, 0)
		}
		return msTime(e.ReceivedAt), age, nil
	case kafka.TopicDeadLetter:
		var d event.DeadLetter
		if err := json.Unmarshal(r.Value, &d); err != nil {
			return time.Time{}, -1, fmt.Errorf("decoding dead letter: %w", err)
		}
		eng.DeadLetter(&d)
		return msTime(d.ReceivedAt), -1, nil
	}
	return time.Time{}, -1, nil
}

func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// evaluate runs the rules: on every tick over everything, between ticks
// over what the latest inputs touched. Until the history is read and the
// open incidents are known, it only keeps the baselines current.
func (a *Alerter) evaluate(s *session, changed bool) {
	wall := a.hooks.wall()
	now := s.wm.Now(wall)
	if now.IsZero() {
		return
	}
	full := wall.Sub(s.lastFull) >= a.cfg.Tick || wall.Before(s.lastFull)
	if !s.live {
		if !full {
			return
		}
		s.lastFull = wall
		if !s.restored || !s.wm.CaughtUp() {
			s.eng.Evaluate(now, false)
			return
		}
		s.live = true
		a.state.Store(StateLive)
		a.log.Info().Time("event_time", now).Dur("took", wall.Sub(s.started)).Msg("caught up, live")
		gone := a.mgr.ResolveWhere(now, func(al *Alert) bool { return a.ruleOf(al) == nil })
		a.emit(append(gone, a.mgr.Apply(now, s.eng.Evaluate(now, false))...))
		return
	}
	if !full && !changed {
		return
	}
	if full {
		s.lastFull = wall
	}
	if tp, age, ok := s.wm.Replaying(wall); ok {
		// A source is sending history: judge nothing, keep the baselines.
		if !s.replaying {
			s.replaying = true
			a.state.Store(StateReplaying)
			a.log.Warn().Str("topic", tp.Topic).Int32("partition", tp.Partition).Dur("arrival_age", age).
				Msg("a source is sending history: verdicts withheld until fresh events flow")
		}
		s.eng.Evaluate(now, false)
		return
	}
	if s.replaying {
		s.replaying = false
		a.state.Store(StateLive)
		a.log.Info().Time("event_time", now).Msg("fresh events flow again, live")
		a.emit(a.mgr.Apply(now, s.eng.Evaluate(now, false)))
		return
	}
	a.emit(a.mgr.Apply(now, s.eng.Evaluate(now, !full)))
}
