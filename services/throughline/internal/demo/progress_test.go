package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// On a terminal the history's progress is one line redrawn in place, and
// a log line written meanwhile clears it, goes above it, and the bar is
// drawn again under it: the two never share a line.
func TestProgressBarKeepsLogsOffItsLine(t *testing.T) {
	var out bytes.Buffer
	bar := NewProgressBar(&out)
	st := &stats{}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, msk)
	p := newProgress(bar, zerolog.Nop(), st, from, from.AddDate(0, 0, 30))
	st.accepted.Store(1234)
	p.report(from.AddDate(0, 0, 15), time.Now(), false)
	bar.Write([]byte("a log line\n"))
	p.done()

	got := out.String()
	const clear = "\r\x1b[K"
	lines := strings.Split(got, clear)
	if len(lines) != 4 || lines[0] != "" {
		t.Fatalf("want bar, log line, bar again, final bar each after a clear; got %q", got)
	}
	if !strings.HasPrefix(lines[1], "history [###############---------------]  50%  day 16/30  1234 events") {
		t.Errorf("bar at half way: %q", lines[1])
	}
	if lines[2] != "a log line\n"+lines[1] {
		t.Errorf("the log line is not above a redrawn bar: %q", lines[2])
	}
	if !strings.HasPrefix(lines[3], "history [##############################] 100%  30 days delivered in ") || !strings.HasSuffix(lines[3], "\n") {
		t.Errorf("final bar: %q", lines[3])
	}
	// Once done, a log line is written as it is.
	out.Reset()
	bar.Write([]byte("later\n"))
	if out.String() != "later\n" {
		t.Errorf("after the bar: %q", out.String())
	}
}
