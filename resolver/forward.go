package resolver

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/resolver/iterator"
)

// forward sends q, with recursion desired, to the recursive servers of a
// forward zone, nearest first, and takes the first usable answer. A
// forwarder's answers are not authoritative, so they are cached at the
// answer rank, below anything an authoritative server says; only the chain
// of records from q's name to its answer is kept.
func (r *Resolver) forward(ctx context.Context, q dns.Question, z *Zone, budget *iterator.Budget) outcome {
	tried := map[string]bool{}
	for range z.Servers {
		choice, ok := r.infra.Select(z.Name, untried(z, tried))
		if !ok {
			break
		}
		tried[choice.Server.String()] = true
		if budget.Used() >= int(budget.Max) {
			break
		}
		msg := new(dns.Msg)
		msg.SetQuestion(q.Name, q.Qtype)
		msg.RecursionDesired = true
		rep, err := r.exch.Exchange(ctx, choice.Server, msg, exchange.Options{No0x20: true, Timeout: choice.Timeout})
		if err != nil {
			if errors.Is(err, exchange.ErrTimeout) {
				r.infra.RecordTimeout(choice.Server)
			}
			r.metrics.upstream("error")
			continue
		}
		r.infra.RecordRTT(choice.Server, rep.RTT)
		m := rep.Msg
		r.metrics.upstream(strings.ToLower(dns.RcodeToString[m.Rcode]))
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
			continue
		}
		chain := answerChain(m.Answer, q)
		for _, set := range chain {
			r.cache.Insert(set, cache.RankAnswer)
		}
		var answer []dns.RR
		for _, set := range chain {
			answer = append(answer, set...)
		}
		o := outcome{rcode: m.Rcode, answer: answer}
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				o.ns = []dns.RR{soa}
				if len(answer) == 0 || m.Rcode == dns.RcodeNameError || answer[len(answer)-1].Header().Rrtype == dns.TypeCNAME {
					r.cache.InsertNegative(cache.Negative{Name: chainEnd(q.Name, answer), Type: negType(m.Rcode, q.Qtype),
						Class: q.Qclass, NXDomain: m.Rcode == dns.RcodeNameError, SOA: soa, Rank: cache.RankAnswer})
				}
			}
		}
		return o
	}
	return outcome{rcode: dns.RcodeServerFailure, ede: ede(dns.ExtendedErrorCodeNoReachableAuthority, "no forwarder answered for "+z.Name)}
}

func untried(z *Zone, tried map[string]bool) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range z.Servers {
		if !tried[s.String()] {
			out = append(out, s)
		}
	}
	return out
}

// answerChain picks from an answer section the RRsets that lead from q's
// name along CNAMEs to the data asked for, in order; anything else the
// forwarder added is dropped.
func answerChain(answer []dns.RR, q dns.Question) [][]dns.RR {
	var out [][]dns.RR
	name := q.Name
	for hop := 0; hop < 16; hop++ {
		var set, cname []dns.RR
		for _, rr := range answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) || h.Class != q.Qclass {
				continue
			}
			switch {
			case h.Rrtype == q.Qtype:
				set = append(set, rr)
			case h.Rrtype == dns.TypeCNAME:
				cname = append(cname, rr)
			}
		}
		if len(set) > 0 {
			return append(out, set)
		}
		if len(cname) != 1 {
			return out
		}
		out = append(out, cname)
		name = cname[0].(*dns.CNAME).Target
	}
	return out
}

// chainEnd is the name a negative answer is about: the last CNAME's target.
func chainEnd(name string, answer []dns.RR) string {
	for _, rr := range answer {
		if c, ok := rr.(*dns.CNAME); ok {
			name = c.Target
		}
	}
	return name
}

func negType(rcode int, qtype uint16) uint16 {
	if rcode == dns.RcodeNameError {
		return 0
	}
	return qtype
}
