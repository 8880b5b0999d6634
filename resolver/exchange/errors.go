package exchange

import (
	"errors"
	"net/netip"
)

// Kinds of failure. An error returned by Exchange is an *Error whose Kind is
// one of these (except for a cancelled ctx, which comes back wrapped as
// it is), so callers branch with errors.Is(err, exchange.ErrTimeout).
var (
	// ErrTimeout: no acceptable response before the try's deadline. If
	// packets were ignored meanwhile, the error also matches ErrMismatch
	// or ErrMalformed, which can tell "silent" from "spoofed" or "speaks
	// garbage" (RFC 6891 §7: a server that answers EDNS with garbage).
	ErrTimeout = errors.New("timeout")

	// ErrMismatch: a response did not match the query (ID, question,
	// opcode). Over UDP such packets are ignored, so it appears only
	// with ErrTimeout; over TCP it ends the exchange.
	ErrMismatch = errors.New("response does not match the query")

	// ErrMalformed: a response could not be parsed.
	ErrMalformed = errors.New("malformed response")

	// ErrCaseMismatch: the server answered with the query name in another
	// case than the 0x20-randomised one it was sent. Either it does not
	// preserve case, or the answer is forged; the caller should retry
	// without 0x20 (a fresh ID and port defeat the forger) and, if that
	// works, remember the server in the infrastructure cache.
	ErrCaseMismatch = errors.New("server did not preserve the case of the query name (0x20)")

	// ErrTruncated: the answer had TC=1 and could not be completed over
	// TCP, or TCP fallback was off. Reply.Msg holds the truncated answer,
	// which must not be cached as if complete (RFC 2181 §9).
	ErrTruncated = errors.New("truncated response")

	// ErrNetwork: a socket failed, e.g. ICMP port unreachable on the
	// connected UDP socket, or a TCP connection reset.
	ErrNetwork = errors.New("network error")
)

// Error describes a failed exchange.
type Error struct {
	Kind   error          // one of the Err* kinds above
	Server netip.AddrPort // the server queried
	TCP    bool           // the failure happened over TCP
	Err    error          // the cause, or nil
}

func (e *Error) Error() string {
	s := "exchange with " + e.Server.String()
	if e.TCP {
		s += " over tcp"
	}
	s += ": " + e.Kind.Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Timeout reports whether the server did not answer in time, as
// net.Error's Timeout does: callers that should not import this package
// (the iterator) can tell a lost query, worth one more try, from a failure.
func (e *Error) Timeout() bool { return e.Kind == ErrTimeout }

// Unwrap returns the kind and the cause, so that errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
