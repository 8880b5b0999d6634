package zone

import (
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Spec names a zone to serve and the master file it is loaded from.
type Spec struct {
	Origin string
	File   string
}

// LoadResult reports what LoadSet did with one zone, for the caller to log
// and count.
type LoadResult struct {
	Origin string // lower case, fully qualified
	File   string
	// OK: the file loaded and the new version is served.
	OK bool
	// KeptPrevious: the file failed and the previous version is still
	// served. When neither OK nor KeptPrevious, the zone answers SERVFAIL.
	KeptPrevious bool
	// Err is why the file failed; nil when OK.
	Err error
	// Problems holds every warning, and on failure the errors too, each
	// with file and line.
	Problems []Problem
	// Serial and Records describe the version now served (0 for a
	// placeholder).
	Serial  uint32
	Records int
}

// Warnings returns the Warning-severity problems.
func (r *LoadResult) Warnings() []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if p.Severity == Warning {
			out = append(out, p)
		}
	}
	return out
}

// LoadSet loads the zones of specs for start-up or a reload (SIGHUP) and
// returns the set to serve, with a result per spec in the order given.
//
// A zone that fails keeps its version from prev if prev has a real one; a
// zone with none (new, or a placeholder already) becomes a Failed
// placeholder that answers SERVFAIL while the other zones serve. Zones of
// prev that are not in specs are dropped. A second spec for an origin
// already listed is refused. Files are always parsed again, because an
// unchanged file may $INCLUDE one that changed.
//
// Up to opt.Parallel zones (default GOMAXPROCS) load at once; LoadSet
// returns when all are done and leaves no goroutine behind.
func LoadSet(specs []Spec, prev *Set, opt LoadOptions) (*Set, []LoadResult) {
	results := make([]LoadResult, len(specs))
	zones := make([]*Zone, len(specs))
	seen := make(map[string]string, len(specs)) // origin to file
	var todo []int
	for i, sp := range specs {
		origin := strings.ToLower(dns.Fqdn(sp.Origin))
		results[i] = LoadResult{Origin: origin, File: sp.File}
		if first, dup := seen[origin]; dup {
			results[i].Err = fmt.Errorf("zone: %s: listed more than once; serving it from %s", origin, first)
			continue
		}
		seen[origin] = sp.File
		todo = append(todo, i)
	}

	workers := opt.Parallel
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(todo))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				zones[i] = loadOne(&results[i], prev, opt)
			}
		})
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()

	var served []*Zone
	for _, z := range zones {
		if z != nil {
			served = append(served, z)
		}
	}
	return NewSet(served...), results
}

// loadOne loads one zone into res and returns the zone to serve.
func loadOne(res *LoadResult, prev *Set, opt LoadOptions) *Zone {
	z, problems, err := Load(res.Origin, res.File, opt)
	res.Problems, res.Err = problems, err
	if err == nil {
		res.OK = true
	} else if old := prev.Get(res.Origin); old != nil && old.Err() == nil {
		z, res.KeptPrevious = old, true
	} else {
		z = Failed(res.Origin, err)
	}
	res.Serial, res.Records = z.Serial(), z.Len()
	return z
}
