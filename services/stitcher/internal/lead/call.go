package lead

import "time"

// Call is what the stitcher keeps of one call.
type Call struct {
	TS             int64    `json:"t"`
	EventID        string   `json:"i"`
	CallID         string   `json:"id"`
	Provider       string   `json:"pr"`
	Caller         string   `json:"ph,omitempty"` // E.164
	TrackingNumber string   `json:"tn,omitempty"`
	Answered       bool     `json:"a,omitempty"`
	TalkSec        int      `json:"ts,omitempty"`
	WaitSec        int      `json:"ws,omitempty"`
	ClientIDs      []string `json:"c,omitempty"`
	Channel        string   `json:"ch,omitempty"` // static number's channel
	RecordingURL   string   `json:"r,omitempty"`
}

// Target is true for an answered call of at least minTalk.
func Target(c Call, minTalk time.Duration) bool {
	return c.Answered && time.Duration(c.TalkSec)*time.Second >= minTalk
}

// Unique is true when no earlier call of calls (ordered by time) came from the
// same caller within window before calls[i]. A call with no caller number is
// unique.
func Unique(calls []Call, i int, window time.Duration) bool {
	c := calls[i]
	if c.Caller == "" {
		return true
	}
	w := window.Milliseconds()
	for j := i - 1; j >= 0; j-- {
		p := calls[j]
		if c.TS-p.TS > w {
			break
		}
		if p.Caller == c.Caller {
			return false
		}
	}
	return true
}
