package eventually

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// A condition made true by another goroutine is waited for; checks stop as
// soon as it holds.
func TestTrueWaits(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	var checks int
	True(t, 10*time.Second, "three", func() bool { checks++; return n.Load() == 3 })
	if n.Load() != 3 {
		t.Fatalf("returned at %d", n.Load())
	}
	before := checks
	True(t, time.Second, "already true", func() bool { checks++; return true })
	if checks != before+1 {
		t.Fatalf("a true condition was checked %d times", checks-before)
	}
}

// fatalTB records Fatalf and ends the goroutine as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A condition that never holds fails the test naming what was waited for.
func TestTrueTimesOut(t *testing.T) {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		True(f, 30*time.Millisecond, "the sky to fall", func() bool { return false })
	}()
	<-done
	if want := "timed out after 30ms waiting for the sky to fall"; f.msg != want {
		t.Fatalf("message %q, want %q", f.msg, want)
	}
}
