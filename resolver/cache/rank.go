package cache

// Rank is how far an RRset may be trusted, from where in which kind of
// response it was found (RFC 2181 §5.4.1). The iterator assigns it, after
// its bailiwick checks have decided that the RRset may be cached at all; the
// cache uses it to decide what may replace what and what may answer a
// client.
//
// The order refines RFC 2181's list the way Unbound's rrset_trust does:
// additional data, then the authority section of a non-authoritative
// response, then its answer section, then the authority and answer sections
// of an authoritative response (AA set).
type Rank uint8

// Ranks, lowest first. The zero Rank is not a valid rank for stored data.
const (
	// RankAdditional: the additional section of any response, glue
	// included. Used to reach servers, never to answer (RFC 2181 §5.4.1).
	RankAdditional Rank = iota + 1
	// RankAuthority: the authority section of a non-authoritative response,
	// such as the NS RRset of a referral. Used to reach servers, never to
	// answer.
	RankAuthority
	// RankAnswer: the answer section of a non-authoritative response (a
	// forwarder's, or the part of a chain outside an authoritative server's
	// zone).
	RankAnswer
	// RankAuthAuthority: the authority section of an authoritative response,
	// such as a zone's own NS RRset. Trusted more than non-authoritative
	// answers, but still not an answer: a client asking for it gets the
	// RRset fetched as an answer.
	RankAuthAuthority
	// RankAuthAnswer: the answer section of an authoritative response.
	RankAuthAnswer
)

// String returns the rank's name, for logs and tests.
func (r Rank) String() string {
	switch r {
	case RankAdditional:
		return "additional"
	case RankAuthority:
		return "authority"
	case RankAnswer:
		return "answer"
	case RankAuthAuthority:
		return "auth-authority"
	case RankAuthAnswer:
		return "auth-answer"
	}
	return "invalid"
}

// Answerable reports whether data of rank r may be returned to a client as
// an answer. RFC 2181 §5.4.1 forbids it for additional data and for the
// authority section of non-authoritative responses; this cache forbids it
// for every authority section, as the resolver issue requires, so that a
// client's answer always comes from some server's answer section.
func (r Rank) Answerable() bool {
	return r == RankAnswer || r == RankAuthAnswer
}

// valid reports whether r is one of the ranks above.
func (r Rank) valid() bool {
	return r >= RankAdditional && r <= RankAuthAnswer
}
