// Package netem emulates network latency in user space for the geo testbed
// (issue 5): it wraps the sockets that the testbed hands to the servers and
// the resolvers' upstream sockets, and holds every outgoing datagram or
// stream write for the one-way delay between its two endpoints' regions.
// Kernel emulation (tc netem) is not available on the machines we run on,
// and the emulation must stay out of server code.
//
// Only the sender delays: each direction of a round trip is delayed once,
// by the socket that writes it, so wrapping both ends gives the full RTT.
package netem

import (
	"container/heap"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DelayFunc returns the one-way delay of a packet from local to remote. A
// negative delay drops the packet, as a cut link would (the testbed's
// cut-off phase).
type DelayFunc func(local, remote netip.AddrPort) time.Duration

// scheduler sends delayed writes at their due times, from one goroutine
// that it owns and that close stops. Writers never block on it: they
// enqueue a copy of their data and return.
type scheduler struct {
	mu      sync.Mutex
	q       queue
	seq     uint64
	last    map[netip.AddrPort]item // latest queued write per destination
	closing bool
	wake    chan struct{} // capacity 1: a pending wake-up is enough
	stop    chan struct{} // closed to drop what is queued and exit
	exited  chan struct{} // closed when run returns
}

type item struct {
	due  time.Time
	seq  uint64
	dst  netip.AddrPort
	send func()
}

// queue is a min-heap of items by due time, then by order of arrival.
type queue []item

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(item)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

func newScheduler() *scheduler {
	s := &scheduler{
		last:   map[netip.AddrPort]item{},
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go s.run()
	return s
}

// schedule queues send to run d from now, and never before a write queued
// earlier to the same destination, so that a change of delay cannot
// reorder a stream. It reports false once the scheduler is closing.
func (s *scheduler) schedule(dst netip.AddrPort, d time.Duration, send func()) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.seq++
	it := item{due: time.Now().Add(d), seq: s.seq, dst: dst, send: send}
	if prev, ok := s.last[dst]; ok && prev.due.After(it.due) {
		it.due = prev.due
	}
	s.last[dst] = it
	heap.Push(&s.q, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// close stops the scheduler and waits for its goroutine to exit. With
// flush, the queued writes are still sent at their due times first (a TCP
// close sends what was written, then the FIN); without, they are dropped.
func (s *scheduler) close(flush bool) {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if !already {
		if !flush {
			close(s.stop)
		} else {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	<-s.exited
}

func (s *scheduler) run() {
	defer close(s.exited)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ready, wait, done := s.due(time.Now())
		for _, it := range ready {
			select {
			case <-s.stop:
				return
			default:
			}
			it.send()
		}
		if done {
			return
		}
		if len(ready) > 0 {
			continue // the sends took time; look again
		}
		var fire <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-fire:
		}
		timer.Stop()
	}
}

// due pops the items due by now. It returns how long until the next one
// (-1 if none) and whether the scheduler is closing with nothing left.
func (s *scheduler) due(now time.Time) (ready []item, wait time.Duration, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.q) > 0 && !s.q[0].due.After(now) {
		it := heap.Pop(&s.q).(item)
		if s.last[it.dst].seq == it.seq {
			delete(s.last, it.dst)
		}
		ready = append(ready, it)
	}
	if len(s.q) > 0 {
		return ready, s.q[0].due.Sub(now), false
	}
	return ready, -1, s.closing && len(ready) == 0
}

// AddrPort converts a socket address; an address of another kind gives
// the zero AddrPort, which no region contains.
func AddrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
