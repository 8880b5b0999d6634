package diff

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// delta builds a Delta from master-file lines; the first line of each list
// is the SOA.
func delta(t testing.TB, deleted, added []string) Delta {
	t.Helper()
	return Delta{Deleted: mustRRs(t, strings.Join(deleted, "\n")+"\n"), Added: mustRRs(t, strings.Join(added, "\n")+"\n")}
}

func TestApply(t *testing.T) {
	t.Parallel()
	s := func(serial string) string { return strings.TrimSpace(soa(serial)) }
	type seq struct{ del, add []string }
	tests := []struct {
		name    string
		base    string
		deltas  []seq
		want    string // the expected version, as a zone file
		wantErr error
	}{
		{
			name: "no deltas", base: soa("1") + base, want: soa("1") + base,
		},
		{
			name:   "one delta",
			base:   soa("1") + base,
			deltas: []seq{{[]string{s("1"), "mail 3600 IN A 192.0.2.25"}, []string{s("2"), "mail 3600 IN A 192.0.2.26", "new 60 IN TXT x"}}},
			want:   soa("2") + strings.Replace(base, "192.0.2.25", "192.0.2.26", 1) + "new 60 IN TXT x\n",
		},
		{
			name: "a chain, adding then deleting",
			base: soa("1") + base,
			deltas: []seq{
				{[]string{s("1")}, []string{s("2"), "tmp 60 IN A 192.0.2.1"}},
				{[]string{s("2"), "tmp 60 IN A 192.0.2.1"}, []string{s("3"), "keep 60 IN A 192.0.2.2"}},
			},
			want: soa("3") + base + "keep 60 IN A 192.0.2.2\n",
		},
		{
			name:   "TTL change",
			base:   soa("1") + base,
			deltas: []seq{{[]string{s("1"), "ns1 3600 IN A 192.0.2.53"}, []string{s("2"), "ns1 60 IN A 192.0.2.53"}}},
			want:   soa("2") + strings.Replace(base, "ns1      3600", "ns1      60", 1),
		},
		{
			name:   "deletion matches names without case and ignores TTL",
			base:   soa("1") + base,
			deltas: []seq{{[]string{s("1"), "MAIL 1 IN A 192.0.2.25", "@ 1 IN MX 10 MAIL"}, []string{s("2")}}},
			want:   soa("2") + strings.Replace(strings.Replace(base, "mail     3600 IN A     192.0.2.25\n", "", 1), "@        3600 IN MX    10 mail\n", "", 1),
		},
		{
			name: "serials wrap",
			base: soa("4294967290") + base,
			deltas: []seq{
				{[]string{s("4294967290")}, []string{s("4294967295"), "a 60 IN A 192.0.2.1"}},
				{[]string{s("4294967295")}, []string{s("7"), "b 60 IN A 192.0.2.1"}},
			},
			want: soa("7") + base + "a 60 IN A 192.0.2.1\nb 60 IN A 192.0.2.1\n",
		},
		{
			name:    "deleting a missing record",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{s("1"), "nothere 60 IN A 192.0.2.1"}, []string{s("2")}}},
			wantErr: ErrMismatch,
		},
		{
			name:    "deleting a record twice",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{s("1"), "ns1 3600 IN A 192.0.2.53", "ns1 3600 IN A 192.0.2.53"}, []string{s("2")}}},
			wantErr: ErrMismatch,
		},
		{
			name:    "adding a present record",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{s("1")}, []string{s("2"), "ns1 3600 IN A 192.0.2.53"}}},
			wantErr: ErrMismatch,
		},
		{
			name:    "adding a present record with another TTL",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{s("1")}, []string{s("2"), "ns1 5 IN A 192.0.2.53"}}},
			wantErr: ErrMismatch,
		},
		{
			name:    "first delta from another serial",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{s("3")}, []string{s("4")}}},
			wantErr: ErrSerial,
		},
		{
			name: "second delta does not chain",
			base: soa("1") + base,
			deltas: []seq{
				{[]string{s("1")}, []string{s("2")}},
				{[]string{s("3")}, []string{s("4")}},
			},
			wantErr: ErrSerial,
		},
		{
			name:    "serial goes back",
			base:    soa("5") + base,
			deltas:  []seq{{[]string{s("5")}, []string{s("4")}}},
			wantErr: ErrSerial,
		},
		{
			name:    "SOA inside the sequence",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{s("1"), s("1")}, []string{s("2")}}},
			wantErr: ErrBadDelta,
		},
		{
			name:    "no SOA first",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{"ns1 3600 IN A 192.0.2.53", s("1")}, []string{s("2")}}},
			wantErr: ErrBadDelta,
		},
		{
			name:    "another zone's SOA",
			base:    soa("1") + base,
			deltas:  []seq{{[]string{"example.org. 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300"}, []string{"example.org. 3600 IN SOA ns1 hostmaster 2 7200 3600 1209600 300"}}},
			wantErr: ErrBadDelta,
		},
		{
			name:    "base without SOA",
			base:    base,
			wantErr: ErrBadDelta,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ds []Delta
			for _, sq := range tt.deltas {
				ds = append(ds, delta(t, sq.del, sq.add))
			}
			baseRRs := mustRRs(t, tt.base)
			before := strs(baseRRs)
			got, err := Apply(baseRRs, ds...)
			if !slices.Equal(strs(baseRRs), before) {
				t.Errorf("Apply modified its base")
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Apply error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			assertSameZone(t, got, mustZone(t, tt.want).Records())
			// The result is what the secondary validates before swapping.
			recs := make([]zone.Record, len(got))
			for i, rr := range got {
				recs[i] = zone.Record{RR: rr}
			}
			if _, probs := zone.Check(origin, recs); len(probs) > 0 {
				t.Errorf("zone.Check: %v", probs)
			}
		})
	}
}

// TestCanonicalOrder checks the key order against RFC 4034 §6.1's example,
// written in mixed case, plus names with escaped bytes.
func TestCanonicalOrder(t *testing.T) {
	t.Parallel()
	names := []string{
		"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
		"zABC.a.EXAMPLE.", "z.example.", `\001.z.example.`, "*.z.example.", `\200.z.example.`,
		`a\000.\200.z.example.`, `a\000b.\200.z.example.`, `a\.b.\200.z.example.`, `ab.\200.z.example.`,
	}
	var rrs []dns.RR
	for i := len(names) - 1; i >= 0; i-- { // reversed, so sorting must work
		rr, err := dns.NewRR(names[i] + " 60 IN A 192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	s := &keySet{}
	k := newKeyer()
	for i, rr := range rrs {
		if err := k.add(s, rr, i); err != nil {
			t.Fatal(err)
		}
	}
	s.sortDedup()
	var got []string
	for _, e := range s.entries {
		got = append(got, e.rr.Header().Name)
	}
	if !slices.Equal(got, names) {
		t.Errorf("order:\n got %q\nwant %q", got, names)
	}
}

// TestRoundTripRandom checks, on random versions of a zone, that applying
// the chain of Diffs to the first version gives the last.
func TestRoundTripRandom(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 1))
			versions := []*zone.Zone{randomZone(t, r, 1, nil)}
			for v := uint32(2); v <= 6; v++ {
				versions = append(versions, randomZone(t, r, v*1_000_000_000, versions[len(versions)-1]))
			}
			var ds []Delta
			for i := 1; i < len(versions); i++ {
				d, err := Diff(versions[i-1], versions[i])
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
			}
			got, err := Apply(versions[0].Records(), ds...)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			assertSameZone(t, got, versions[len(versions)-1].Records())
		})
	}
}

// randomZone returns a version of a small zone: prev's records with some
// dropped, some TTLs changed and some new ones, or a fresh set.
func randomZone(t *testing.T, r *rand.Rand, serial uint32, prev *zone.Zone) *zone.Zone {
	t.Helper()
	rrs := []dns.RR{mustRRs(t, soa(fmt.Sprint(serial)))[0]}
	if prev != nil {
		for _, rr := range prev.Records()[1:] {
			switch r.IntN(10) {
			case 0: // dropped
			case 1:
				cp := dns.Copy(rr)
				cp.Header().Ttl = uint32(r.IntN(3) * 60)
				rrs = append(rrs, cp)
			default:
				rrs = append(rrs, rr)
			}
		}
	}
	owners := []string{"@", "a", "B", "c.b", "*.w", `x\.y`}
	for range 30 {
		owner := owners[r.IntN(len(owners))]
		var line string
		switch r.IntN(4) {
		case 0:
			line = fmt.Sprintf("%s 60 IN A 192.0.2.%d", owner, r.IntN(8))
		case 1:
			line = fmt.Sprintf("%s 60 IN MX %d %s", owner, r.IntN(3), []string{"a", "A", "mx.example.net."}[r.IntN(3)])
		case 2:
			line = fmt.Sprintf(`%s 60 IN TXT "%c"`, owner, "aAbB"[r.IntN(4)])
		default:
			line = fmt.Sprintf("%s 60 IN AAAA 2001:db8::%d", owner, r.IntN(8))
		}
		rrs = append(rrs, mustRRs(t, line+"\n")[0])
	}
	// Keep one TTL per RRset, as zone.Check would, so that "the same
	// version" is well defined.
	recs := make([]zone.Record, len(rrs))
	for i, rr := range rrs {
		recs[i] = zone.Record{RR: rr}
	}
	clean, _ := zone.Check(origin, recs)
	return zone.New(origin, clean)
}
