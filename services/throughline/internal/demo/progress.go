package demo

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ProgressBar draws the history's progress on a terminal as one line
// redrawn in place. It is also the terminal's log writer while it runs:
// a log line first clears the bar and the bar is drawn again under it, so
// the two never share a line.
type ProgressBar struct {
	mu   sync.Mutex
	out  io.Writer
	line string // the bar as last drawn; "" when none is shown
}

// NewProgressBar draws on out, which should be a terminal (IsTerminal).
func NewProgressBar(out io.Writer) *ProgressBar { return &ProgressBar{out: out} }

// Write writes a log line above the bar.
func (b *ProgressBar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.line != "" {
		io.WriteString(b.out, "\r\x1b[K")
	}
	n, err := b.out.Write(p)
	if b.line != "" {
		io.WriteString(b.out, b.line)
	}
	return n, err
}

// draw shows line as the bar; done leaves it on the screen for good.
func (b *ProgressBar) draw(line string, done bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	io.WriteString(b.out, "\r\x1b[K"+line)
	b.line = line
	if done {
		io.WriteString(b.out, "\n")
		b.line = ""
	}
}

// IsTerminal reports whether w is a terminal (a character device): the
// progress bar is drawn only there; elsewhere the history's progress is a
// log line every few seconds.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const barWidth = 30

// progress follows the backfill: how far the history's clock has got, how
// many events the collector took and how fast.
type progress struct {
	bar      *ProgressBar // nil: log lines
	log      zerolog.Logger
	st       *stats
	every    time.Duration
	from, to time.Time // the history's span
	started  time.Time
	last     time.Time // of the last report
}

func newProgress(bar *ProgressBar, log zerolog.Logger, st *stats, from, to time.Time) *progress {
	every := 5 * time.Second
	if bar != nil {
		every = 200 * time.Millisecond
	}
	now := time.Now()
	return &progress{bar: bar, log: log, st: st, every: every, from: from, to: to, started: now, last: now}
}

// at reports the history's clock at sim, at most every p.every.
func (p *progress) at(sim time.Time) {
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.report(sim, now, false)
	}
}

// behind reports the pipeline still taking the history: n records to go.
func (p *progress) behind(n int64) {
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	elapsed := now.Sub(p.started).Round(time.Second)
	if p.bar == nil {
		p.log.Info().Int64("records_to_go", n).Str("elapsed", elapsed.String()).Msg("demo history sent: the pipeline is taking it")
		return
	}
	p.bar.draw(fmt.Sprintf("history [%s] sent in %s; the pipeline is taking it: %d records to go",
		strings.Repeat("#", barWidth), elapsed, n), false)
}

// done reports the history delivered.
func (p *progress) done() { p.report(p.to, time.Now(), true) }

func (p *progress) report(sim, now time.Time, done bool) {
	f := 1.0
	if span := p.to.Sub(p.from); span > 0 {
		f = min(max(float64(sim.Sub(p.from))/float64(span), 0), 1)
	}
	elapsed := now.Sub(p.started)
	acc := p.st.accepted.Load()
	rate := float64(acc) / max(elapsed.Seconds(), 0.001)
	days := int(p.to.Sub(p.from).Round(24*time.Hour) / (24 * time.Hour))
	day := min(int(f*float64(days))+1, days)
	eta := ""
	if f > 0.02 && !done {
		eta = fmt.Sprintf("  ~%s left", (time.Duration(float64(elapsed) * (1 - f) / f)).Round(time.Second))
	}
	if p.bar == nil {
		ev := p.log.Info().Str("progress", fmt.Sprintf("%.0f%%", 100*f)).Int("day", day).Int("days", days).
			Int64("accepted", acc).Str("rate", fmt.Sprintf("%.0f/s", rate)).Str("elapsed", elapsed.Round(time.Second).String())
		if done {
			ev.Msg("demo history delivered")
		} else {
			ev.Msg("demo history")
		}
		return
	}
	full := int(f * barWidth)
	state := fmt.Sprintf("day %d/%d", day, days)
	if done {
		state = fmt.Sprintf("%d days delivered in %s", days, elapsed.Round(time.Second))
	}
	p.bar.draw(fmt.Sprintf("history [%s%s] %3.0f%%  %s  %d events  %.0f/s%s",
		strings.Repeat("#", full), strings.Repeat("-", barWidth-full), 100*f, state, acc, rate, eta), done)
}
