package workload

import (
	"sync"
	"time"

	"github.com/meridian-dns/meridian/testbed/topology"
)

// Tracker computes the physical limit of each question of a region's
// workload as it is asked, from what an ideal resolver of that region
// would hold by then: the delegations of every zone cut it has crossed,
// and the answers to the names already asked. A new name (any name that
// does not exist is new) always costs the round trip to the nearest
// replica of its own zone; each zone cut above it costs one round trip the
// first time only. Expiry is ignored: a phase is shorter than the
// topology's TTLs, and ignoring it can only lower the limit.
type Tracker struct {
	t      *topology.Topology
	region string

	mu    sync.Mutex
	cuts  map[string]bool // zones whose delegation is known
	names map[string]bool // names asked
}

// NewTracker returns a tracker for region's resolver, with nothing cached.
func NewTracker(t *topology.Topology, region string) *Tracker {
	return &Tracker{t: t, region: region, cuts: map[string]bool{}, names: map[string]bool{}}
}

// Limit returns the physical limit of asking name now and records it as
// asked. It fits Options.Limit.
func (k *Tracker) Limit(name string, exists bool) time.Duration {
	path := k.t.Path(name)
	k.mu.Lock()
	defer k.mu.Unlock()
	asked := exists && k.names[name]
	last := ""
	if len(path) > 0 {
		last = path[len(path)-1].Name
	}
	d := k.t.PhysicalLimit(k.region, name, func(zone string) bool {
		if zone == last {
			return asked
		}
		return k.cuts[zone]
	})
	for _, z := range path {
		k.cuts[z.Name] = true
	}
	if exists {
		k.names[name] = true
	}
	return d
}
