package stitcher

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionsEndWhileTheGroupFails reproduces a liveness hang: a
// transaction that consumed records ends (GroupTransactSession.End) while
// the group's manage loop, after a failed heartbeat, waits in its failure
// path for the poll to allow the rebalance (BlockRebalanceOnPoll). End
// forces a heartbeat that no heartbeat loop is left to send, and waits for a
// revoke or loss that waits for End: the stitcher hung until stopped. The
// group's JoinGroup fails once too, so the member rejoins after a second
// failure. With the fix the transaction aborts, the loss is handled, the
// member rejoins, and the output is exactly once.
func TestTransactionsEndWhileTheGroupFails(t *testing.T) {
	e := newEnv(t)
	e.produce(genEvents(5, 1200))
	cfg := e.config("endhang")
	s := e.newStitcher(cfg)

	var armed, heartbeatFailed, joinFailed atomic.Bool
	blocked := make(chan struct{}, 1)
	e.cluster.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if !armed.Load() || heartbeatFailed.Swap(true) {
			return nil, nil, false
		}
		r := req.(*kmsg.HeartbeatRequest)
		resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.Version = r.Version
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil, true
	})
	e.cluster.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if !heartbeatFailed.Load() || joinFailed.Swap(true) {
			return nil, nil, false
		}
		r := req.(*kmsg.JoinGroupRequest)
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.Version = r.Version
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil, true
	})
	// The group's manage loop signals when its failure path waits for the
	// poll: only that signal (after the heartbeat failed) counts.
	s.hooks.clientOpts = append(s.hooks.clientOpts, kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) {
		if heartbeatFailed.Load() {
			select {
			case blocked <- struct{}{}:
			default:
			}
		}
	}))
	var hookErr atomic.Value
	var ends atomic.Int64
	s.hooks.beforeEnd = func() error {
		if ends.Add(1) != 1 { // the first transaction consumed the backlog: it commits offsets
			return nil
		}
		armed.Store(true)
		select {
		case <-blocked: // the manage loop waits for this transaction's poll
		case <-time.After(30 * time.Second):
			hookErr.Store(errors.New("the group's failure path never waited for the poll"))
		}
		return nil
	}

	r := start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err, _ := hookErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	if !heartbeatFailed.Load() || !joinFailed.Load() {
		t.Fatalf("faults not injected: heartbeat %v, join %v", heartbeatFailed.Load(), joinFailed.Load())
	}
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}
