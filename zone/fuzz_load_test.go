package zone

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzLoad feeds arbitrary master-file text through Parse, Check, New and a
// few lookups: the result is a zone or problems, never a panic, and every
// record and problem says where it came from. The file is named inside
// testdata/zones/load so that $INCLUDE reaches real files there and nothing
// else. Seeds are the files under testdata/zones.
//
//	go test -fuzz=FuzzLoad -fuzztime=60s ./zone
func FuzzLoad(f *testing.F) {
	root := filepath.Join("..", "testdata", "zones")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && len(b) < 1<<16 {
			f.Add(string(b))
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	// The signed zones moved under the fuzzed origin, so that mutations
	// reach the NSEC and NSEC3 proofs (their signatures no longer verify,
	// which the server never checks).
	for _, name := range []string{"signed.example", "nsec3.example"} {
		b, err := os.ReadFile(filepath.Join(root, "signed", name+".zone"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.ReplaceAll(string(b), name+".", "example.com."))
	}
	f.Add("$TTL 300\n@ SOA ns1 h ( 1 2 3 4 5 )\n NS ns1\nns1 A 192.0.2.1\n*.w CNAME x\nx DNAME example.net.\n")
	f.Add("$TTL 1\n$GENERATE 1-9 ${0,3,x} 5 IN TXT \"a\\\\\" (\n x ) ; c\n$INCLUDE chain-b.inc b.example.com.\n")

	file := filepath.Join("..", "testdata", "zones", "load", "fuzz.zone")
	f.Fuzz(func(t *testing.T, text string) {
		const origin = "example.com."
		// The fuzzer has no time limit per input; a panic from a timer
		// kills the worker, and the fuzzer keeps the input that hung.
		hang := time.AfterFunc(20*time.Second, func() { panic("FuzzLoad: no result after 20s for " + strconv.Quote(text)) })
		defer hang.Stop()
		recs, problems := Parse(strings.NewReader(text), origin, file, LoadOptions{})
		lines := strings.Count(text, "\n") + 1
		for _, r := range recs {
			if r.RR == nil || r.File == "" || r.Line < 1 || (r.File == file && r.Line > lines) {
				t.Fatalf("record %v at %s:%d of %d lines", r.RR, r.File, r.Line, lines)
			}
		}
		for _, p := range problems {
			if p.File == "" || p.Msg == "" {
				t.Fatalf("problem without a place: %#v", p)
			}
		}
		rrs, _ := Check(origin, recs)
		z := New(origin, rrs)
		set := NewSet(z)
		var res Result
		names := []string{origin, "www.example.com.", "a.b.c.example.com.", "*.example.com.", "example.net.",
			"x.wild.example.com.", "nx.a.b.c.deep.example.com.", "zzzz.example.com.", "host.insecure.example.com."}
		for i, r := range recs {
			if i == 20 {
				break
			}
			names = append(names, r.RR.Header().Name)
		}
		for _, name := range names {
			for _, qt := range []uint16{dns.TypeA, dns.TypeNS, dns.TypeDS, dns.TypeANY, dns.TypeCNAME, dns.TypeMX, dns.TypeNSEC3} {
				set.Lookup(name, qt, true, &res)
			}
		}
		_ = z.Records()
	})
}
