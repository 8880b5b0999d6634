package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/meridian-dns/meridian/testbed/workload"
)

// progress shows the running phase on the terminal: a line rewritten in
// place on a terminal, a line every few seconds otherwise.
type progress struct {
	w       io.Writer
	stopped chan struct{}
	done    chan struct{}
}

// phase runs f under a context that ends after d (0: when f returns by
// itself), showing progress against d.
func (p *progress) phase(ctx context.Context, name string, d time.Duration,
	f func(context.Context, *atomic.Int64) ([]workload.Result, error)) ([]workload.Result, error) {
	var asked atomic.Int64
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	p.start(name, d, &asked)
	res, err := f(ctx, &asked)
	p.stop()
	if err == nil && ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded {
		err = ctx.Err()
	}
	return res, err
}

func (p *progress) start(name string, d time.Duration, asked *atomic.Int64) {
	p.stopped, p.done = make(chan struct{}), make(chan struct{})
	tty := isTerminal(p.w)
	go func() {
		defer close(p.done)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		line := func() string {
			s := fmt.Sprintf("%-32s %6.1fs", name, time.Since(start).Seconds())
			if d > 0 {
				s += fmt.Sprintf(" of %v", d)
			}
			return s + fmt.Sprintf("  %d answered", asked.Load())
		}
		printed := time.Time{}
		for n := 1; ; n++ {
			select {
			case <-p.stopped:
				switch {
				case tty:
					fmt.Fprintf(p.w, "\r%s\033[K\n", line())
				case time.Since(printed) > 500*time.Millisecond:
					fmt.Fprintln(p.w, line())
				}
				return
			case <-tick.C:
				switch {
				case tty:
					fmt.Fprintf(p.w, "\r%s\033[K", line())
				case n%5 == 0:
					fmt.Fprintln(p.w, line())
					printed = time.Now()
				}
			}
		}
	}()
}

func (p *progress) stop() {
	close(p.stopped)
	<-p.done
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
