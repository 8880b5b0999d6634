package workload

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Client is one emulated client: the names it asks and its socket to its
// resolver. Clients ask one question at a time and wait for the answer (a
// closed loop, like a stub resolver), so a slow answer slows its client.
type Client struct {
	Sampler *Sampler
	// Conn is a UDP socket connected to the resolver, owned by the
	// caller. The testbed binds it in the client's region and wraps it in
	// the latency emulation.
	Conn net.Conn
	// Rate bounds the questions per second; 0 means as fast as answers
	// come. A client that falls behind (slow answers) does not burst to
	// catch up: it asks again as soon as it has its answer.
	Rate float64
}

// Options tune Run.
type Options struct {
	// Timeout is how long a client waits for an answer; default 5s. A
	// timed-out question counts as an error and takes no latency sample.
	Timeout time.Duration
	// Limit, if set, is called as each question is sent and returns its
	// physical limit (see Tracker); the limits go into the Result.
	Limit func(name string, exists bool) time.Duration
	// Asked, if set, counts the questions answered, for progress display.
	Asked *atomic.Int64
}

// Result is what one run of a group of clients measured.
type Result struct {
	// Latency of every answered question, sorted.
	Latency []time.Duration
	// Limits are the physical limits of the same questions, sorted.
	Limits []time.Duration
	// Asked is the number of questions each client sent.
	Asked []int
	// Rcodes counts the answers by response code.
	Rcodes map[int]int
	// Errors counts the questions that got no answer in time, and
	// FirstErr says why the first of them did not.
	Errors   int
	FirstErr error
	// Failures holds the first few questions that failed (no answer in
	// time, or SERVFAIL), as "name: why", for the report to show.
	Failures []string
}

// maxFailures bounds Result.Failures.
const maxFailures = 5

func (r *Result) failed(name, why string) {
	if len(r.Failures) < maxFailures {
		r.Failures = append(r.Failures, name+": "+why)
	}
}

// Answered returns the number of questions answered.
func (r *Result) Answered() int { return len(r.Latency) }

// Failed returns the questions that got no answer or a SERVFAIL.
func (r *Result) Failed() int { return r.Errors + r.Rcodes[dns.RcodeServerFailure] }

// Run drives the clients concurrently until ctx ends, and returns the
// merged measurements. No question is sent after ctx ends, but those
// already sent are waited for, up to Options.Timeout.
func Run(ctx context.Context, clients []Client, o Options) Result {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	res := Result{Asked: make([]int, len(clients)), Rcodes: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			one := runClient(ctx, clients[i], o)
			mu.Lock()
			defer mu.Unlock()
			res.Latency = append(res.Latency, one.Latency...)
			res.Limits = append(res.Limits, one.Limits...)
			res.Asked[i] = one.Asked[0]
			for rc, n := range one.Rcodes {
				res.Rcodes[rc] += n
			}
			res.Errors += one.Errors
			if res.FirstErr == nil {
				res.FirstErr = one.FirstErr
			}
			for _, f := range one.Failures {
				if len(res.Failures) < maxFailures {
					res.Failures = append(res.Failures, f)
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(res.Latency)
	slices.Sort(res.Limits)
	return res
}

// runClient is one client's loop.
func runClient(ctx context.Context, c Client, o Options) Result {
	res := Result{Asked: []int{0}, Rcodes: map[int]int{}}
	buf := make([]byte, 65535)
	var interval time.Duration
	if c.Rate > 0 {
		interval = time.Duration(float64(time.Second) / c.Rate)
	}
	next := time.Now()
	for !over(ctx) {
		if wait := time.Until(next); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return res
			case <-t.C:
			}
		}
		if next = next.Add(interval); next.Before(time.Now()) {
			next = time.Now() // behind: no burst to catch up
		}
		name, exists := c.Sampler.Next()
		var limit time.Duration
		if o.Limit != nil {
			limit = o.Limit(name, exists)
		}
		res.Asked[0]++
		// The question is waited for even if the phase ends meanwhile: a
		// resolver stalling at the end of a phase (a cut-off, say) must
		// show as slow or failed, not vanish.
		d, rcode, err := ask(c.Conn, name, buf, o.Timeout)
		if err != nil {
			res.Errors++
			if res.FirstErr == nil {
				res.FirstErr = err
			}
			res.failed(name, err.Error())
			continue
		}
		if rcode == dns.RcodeServerFailure {
			res.failed(name, "SERVFAIL")
		}
		res.Rcodes[rcode]++
		res.Latency = append(res.Latency, d)
		if o.Limit != nil {
			res.Limits = append(res.Limits, limit)
		}
		if o.Asked != nil {
			o.Asked.Add(1)
		}
	}
	return res
}

// over reports whether the phase is over: its context is done, or its
// deadline has passed (a context's timer fires a little after its
// deadline, and a question sent in between would time out at once).
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// errTimeout is a question that got no answer in time.
var errTimeout = errors.New("workload: no answer in time")

// ask sends one recursive A question and waits for its answer, ignoring
// stray datagrams (a late answer to an earlier, timed-out question).
func ask(conn net.Conn, name string, buf []byte, timeout time.Duration) (time.Duration, int, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.Id = uint16(rand.Uint32())
	q.RecursionDesired = true
	q.SetEdns0(1232, false)
	wire, err := q.Pack()
	if err != nil {
		return 0, 0, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if _, err := conn.Write(wire); err != nil {
		return 0, 0, err
	}
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, 0, errTimeout
			}
			return 0, 0, err
		}
		d := time.Since(start)
		var r dns.Msg
		if r.Unpack(buf[:n]) != nil || r.Id != q.Id || !r.Response || len(r.Question) != 1 ||
			!strings.EqualFold(r.Question[0].Name, name) {
			continue
		}
		return d, r.Rcode, nil
	}
}
