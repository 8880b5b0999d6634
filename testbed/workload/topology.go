package workload

import (
	"github.com/meridian-dns/meridian/testbed/topology"
)

// ForClient returns the sampler configuration of a client group of a
// topology, and of its n-th client (from 0): each client gets its own seed
// derived from the group's, so that clients ask different sequences and a
// run repeats exactly.
func ForClient(t *topology.Topology, c topology.Client, n int) (Config, error) {
	names, err := t.QueryNames(c)
	if err != nil {
		return Config{}, err
	}
	exp := c.Exponent
	if c.Distribution == "uniform" {
		exp = 0
	}
	return Config{
		Names:    names,
		Zones:    t.ClientZones(c),
		Exponent: exp,
		NXShare:  c.NXShare,
		Seed:     c.Seed*1_000_003 + uint64(n),
	}, nil
}
