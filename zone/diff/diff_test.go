package diff

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

const origin = "example.com."

// base is the body shared by most test zones; each case prepends an SOA.
const base = `
@        3600 IN NS    ns1
@        3600 IN NS    ns2
@        3600 IN MX    10 mail
ns1      3600 IN A     192.0.2.53
ns2      3600 IN A     198.51.100.53
mail     3600 IN A     192.0.2.25
www      3600 IN CNAME @
txt      3600 IN TXT   "Hello" "World"
sub      3600 IN NS    ns.sub
ns.sub   3600 IN A     192.0.2.99
`

func soa(serial string) string {
	return "@ 3600 IN SOA ns1 hostmaster " + serial + " 7200 3600 1209600 300\n"
}

// reversed returns the lines of text in reverse order.
func reversed(text string) string {
	lines := strings.Split(text, "\n")
	slices.Reverse(lines)
	return strings.Join(lines, "\n") + "\n"
}

func mustRRs(t testing.TB, text string) []dns.RR {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "test")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return rrs
}

func mustZone(t testing.TB, text string) *zone.Zone {
	t.Helper()
	z := zone.New(origin, mustRRs(t, text))
	if z.Err() != nil {
		t.Fatalf("zone: %v", z.Err())
	}
	return z
}

// strs renders records for comparison, in the order given.
func strs(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	return out
}

// want renders records written in master-file syntax, in the order given.
func want(t testing.TB, lines ...string) []string {
	t.Helper()
	if len(lines) == 0 {
		return []string{}
	}
	return strs(mustRRs(t, strings.Join(lines, "\n")+"\n"))
}

func TestDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new string
		deleted  []string // after the old SOA
		added    []string // after the new SOA
		wantErr  error
	}{
		{
			name: "serial only",
			old:  soa("1") + base, new: soa("2") + base,
		},
		{
			name: "record added",
			old:  soa("1") + base, new: soa("2") + base + "new 3600 IN A 192.0.2.7\n",
			added: []string{"new 3600 IN A 192.0.2.7"},
		},
		{
			name: "record deleted",
			old:  soa("1") + base + "old 3600 IN A 192.0.2.7\n", new: soa("2") + base,
			deleted: []string{"old 3600 IN A 192.0.2.7"},
		},
		{
			name: "rdata changed",
			old:  soa("1") + base, new: soa("2") + strings.Replace(base, "192.0.2.25", "192.0.2.26", 1),
			deleted: []string{"mail 3600 IN A 192.0.2.25"},
			added:   []string{"mail 3600 IN A 192.0.2.26"},
		},
		{
			name: "TTL changed is a deletion and an addition",
			old:  soa("1") + base, new: soa("2") + strings.Replace(base, "mail     3600", "mail     60", 1),
			deleted: []string{"mail 3600 IN A 192.0.2.25"},
			added:   []string{"mail 60 IN A 192.0.2.25"},
		},
		{
			name: "case of names is no change",
			old:  soa("1") + base, new: soa("2") + strings.Replace(strings.Replace(base, "MX    10 mail", "MX    10 MAIL", 1), "ns1      3600", "NS1      3600", 1),
		},
		{
			name: "case of TXT is a change",
			old:  soa("1") + base, new: soa("2") + strings.Replace(base, `"Hello"`, `"hello"`, 1),
			deleted: []string{`txt 3600 IN TXT "Hello" "World"`},
			added:   []string{`txt 3600 IN TXT "hello" "World"`},
		},
		{
			name: "canonical order: parent before child, by type, by rdata",
			old:  soa("1") + base,
			new: soa("2") + base + "b.mail 3600 IN A 192.0.2.2\n" + "mail 3600 IN AAAA 2001:db8::1\n" +
				"a.mail 3600 IN A 192.0.2.9\n" + "a.mail 3600 IN A 192.0.2.1\n" + "z 3600 IN A 192.0.2.1\n",
			added: []string{
				"mail 3600 IN AAAA 2001:db8::1",
				"a.mail 3600 IN A 192.0.2.1", "a.mail 3600 IN A 192.0.2.9", "b.mail 3600 IN A 192.0.2.2",
				"z 3600 IN A 192.0.2.1",
			},
		},
		{
			name: "duplicates count once",
			old:  soa("1") + base + "d 3600 IN A 192.0.2.1\nd 3600 IN A 192.0.2.1\n", new: soa("2") + base,
			deleted: []string{"d 3600 IN A 192.0.2.1"},
		},
		{
			name:    "signatures are records too",
			old:     soa("1") + base + "www 3600 IN RRSIG CNAME 13 3 3600 20300101000000 20200101000000 12345 example.com. AAAA\n",
			new:     soa("2") + base + "www 3600 IN RRSIG CNAME 13 3 3600 20300101000000 20200101000000 12345 example.com. BBBB\n",
			deleted: []string{"www 3600 IN RRSIG CNAME 13 3 3600 20300101000000 20200101000000 12345 example.com. AAAA"},
			added:   []string{"www 3600 IN RRSIG CNAME 13 3 3600 20300101000000 20200101000000 12345 example.com. BBBB"},
		},
		{
			name: "same records in another order",
			old:  soa("1") + base, new: soa("2") + reversed(base),
		},
		{
			name: "serial wraps",
			old:  soa("4294967295") + base, new: soa("3") + base,
		},
		{name: "serial not raised", old: soa("2") + base, new: soa("2") + base + "n 3600 IN A 192.0.2.1\n", wantErr: ErrSerial},
		{name: "serial lowered", old: soa("5") + base, new: soa("4") + base, wantErr: ErrSerial},
		{name: "serial undefined", old: soa("0") + base, new: soa("2147483648") + base, wantErr: ErrSerial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			oldZ, newZ := mustZone(t, tt.old), mustZone(t, tt.new)
			d, err := Diff(oldZ, newZ)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Diff error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if d.Deleted[0] != dns.RR(oldZ.SOA()) || d.Added[0] != dns.RR(newZ.SOA()) {
				t.Fatalf("SOAs first: got %v / %v", d.Deleted[0], d.Added[0])
			}
			if got, w := strs(d.Deleted[1:]), want(t, tt.deleted...); !slices.Equal(got, w) {
				t.Errorf("deleted:\n got %q\nwant %q", got, w)
			}
			if got, w := strs(d.Added[1:]), want(t, tt.added...); !slices.Equal(got, w) {
				t.Errorf("added:\n got %q\nwant %q", got, w)
			}
			// Applying the difference to the old version gives the new one.
			got, err := Apply(oldZ.Records(), d)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			assertSameZone(t, got, newZ.Records())
		})
	}
}

// assertSameZone compares two versions record for record, ignoring order
// after the SOA and treating records IsDuplicate calls equal (TTL included)
// as the same.
func assertSameZone(t *testing.T, got, want []dns.RR) {
	t.Helper()
	if got[0].String() != want[0].String() {
		t.Errorf("SOA = %v, want %v", got[0], want[0])
	}
	canon := func(rrs []dns.RR) []string {
		out := make([]string, 0, len(rrs))
		for _, rr := range rrs {
			out = append(out, strings.ToLower(rr.String()))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if g, w := canon(got), canon(want); !slices.Equal(g, w) {
		t.Errorf("records differ:\n got %q\nwant %q", g, w)
	}
}

func TestDiffErrors(t *testing.T) {
	t.Parallel()
	good := mustZone(t, soa("1")+base)
	other := zone.New("example.org.", mustRRs(t, "$ORIGIN example.org.\n"+soa("2")+base))
	failed := zone.Failed(origin, errors.New("did not load"))
	tests := []struct {
		name     string
		old, new *zone.Zone
	}{
		{"nil", nil, good},
		{"origins differ", good, other},
		{"old failed to load", failed, good},
		{"new failed to load", good, failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Diff(tt.old, tt.new); !errors.Is(err, ErrBadDelta) {
				t.Fatalf("Diff error = %v, want ErrBadDelta", err)
			}
		})
	}
}

func TestApplyTwoSOAs(t *testing.T) {
	t.Parallel()
	rrs := mustRRs(t, soa("1")+soa("2")+base)
	if _, err := Apply(rrs); !errors.Is(err, ErrBadDelta) {
		t.Fatalf("Apply error = %v, want ErrBadDelta", err)
	}
}

// TestOwnerKey checks that the owner keys Apply uses to find touched names
// are the owner part of the record keys, for names with and without escapes.
func TestOwnerKey(t *testing.T) {
	t.Parallel()
	names := []string{".", "example.", "A.b.Example.", `a\.b.example.`, `\065.example.`, `a\000b.example.`, `*.x.example.`, `\@.example.`}
	k := newKeyer()
	for _, name := range names {
		rr, err := dns.NewRR(name + " 60 IN TXT x")
		if err != nil {
			t.Fatal(err)
		}
		full, err := k.appendKey(nil, rr)
		if err != nil {
			t.Fatal(err)
		}
		owner, err := k.appendOwner(nil, rr.Header().Name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(full), string(owner)) || full[len(owner)] != 0 || full[len(owner)+1] != byte(dns.TypeTXT) {
			t.Errorf("%s: owner key %q is not the start of %q", name, owner, full)
		}
	}
	// Escapes that spell ordinary letters give the same key.
	a, _ := k.appendOwner(nil, `\065.example.`)
	b, _ := k.appendOwner(nil, "a.example.")
	if string(a) != string(b) {
		t.Errorf("\\065.example. and a.example. differ: %q, %q", a, b)
	}
}

// TestDiffSharesNothingWritable runs Diff on a zone while it is read
// concurrently; with -race this shows that keying never writes to the shared
// records (dns.PackRR would set Rdlength).
func TestDiffSharesNothingWritable(t *testing.T) {
	t.Parallel()
	// Every TTL changes, so that every record is keyed.
	oldZ, newZ := mustZone(t, soa("1")+base), mustZone(t, soa("2")+strings.ReplaceAll(base, "3600", "60"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			for _, rr := range oldZ.Records() {
				_ = rr.Header().Rdlength
			}
		}
	}()
	for range 100 {
		d, err := Diff(oldZ, newZ)
		if err != nil {
			t.Error(err)
			break
		}
		if len(d.Deleted) != oldZ.Len() {
			t.Errorf("%d deletions, want every record", len(d.Deleted))
			break
		}
		if _, err := Apply(slices.Collect(oldZ.All()), d); err != nil {
			t.Error(err)
			break
		}
	}
	<-done
}
