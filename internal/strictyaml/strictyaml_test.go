package strictyaml

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type item struct {
	Name string `yaml:"name"`
	TTL  int    `yaml:"ttl"`
}

func (i *item) SetDefaults()       { i.TTL = 300 }
func (i *item) SetScalar(s string) { i.Name = s }

type doc struct {
	Port    uint16            `yaml:"port"`
	Wait    time.Duration     `yaml:"wait"`
	Ratio   float64           `yaml:"ratio"`
	On      bool              `yaml:"on"`
	Items   []item            `yaml:"items"`
	RTT     map[string]string `yaml:"rtt"`
	private int
}

func TestDecode(t *testing.T) {
	t.Parallel()
	root, err := Document([]byte("port: 53\nwait: 1m30s\nratio: 0.5\non: true\nitems: [a, {name: b, ttl: 7}]\nrtt: {x: y}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	lines := map[string]int{}
	if err := Decode(root, &d, Options{Lines: lines}); err != nil {
		t.Fatal(err)
	}
	if d.Port != 53 || d.Wait != 90*time.Second || d.Ratio != 0.5 || !d.On || d.RTT["x"] != "y" || d.private != 0 {
		t.Errorf("decoded %+v", d)
	}
	// A scalar item is the shorthand; a mapping item keeps its defaults for
	// keys it does not set.
	if len(d.Items) != 2 || d.Items[0] != (item{"a", 300}) || d.Items[1] != (item{"b", 7}) {
		t.Errorf("items %+v", d.Items)
	}
	if lines["items[1].ttl"] != 5 || lines["wait"] != 2 {
		t.Errorf("lines %v", lines)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"port: 53\nspeed: 1\n", `line 2: speed: unknown key "speed" in the file; known keys: items, on, port, ratio, rtt, wait`},
		{"items:\n  - name: a\n    colour: red\n", `line 3: items[0].colour: unknown key "colour" in items[0]`},
		{"port: 53\nport: 54\n", `line 2: port: key repeated (first at line 1)`},
		{"port: 70000\n", `line 1: port: want a non-negative integer, got "70000"`},
		{"port: \"53\"\n", `line 1: port: want a non-negative integer, got "53"`},
		{"wait: soon\n", `line 1: wait: want a duration such as 10s or 1m30s, got "soon"`},
		{"on: yes please\n", `line 1: on: want true or false, got "yes please"`},
		{"rtt: {x: a, x: b}\n", `line 1: rtt.x: key repeated (first at line 1)`},
		{"items: 3\n", `line 1: items: want a list`},
		{"private: 1\n", `unknown key "private"`},
	} {
		root, err := Document([]byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		var d doc
		err = Decode(root, &d, Options{Top: "the file"})
		var se *Error
		if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	// Every problem is reported, not just the first.
	root, _ := Document([]byte("a: 1\nb: 2\nport: x\n"))
	if err := Decode(root, &doc{}, Options{}); err == nil || strings.Count(err.Error(), "line ") != 3 {
		t.Errorf("three problems: %v", err)
	}
}

func TestDocument(t *testing.T) {
	t.Parallel()
	for _, empty := range []string{"", "# only a comment\n", "---\n"} {
		if root, err := Document([]byte(empty)); root != nil || err != nil {
			t.Errorf("%q: %v %v", empty, root, err)
		}
	}
	_, err := Document([]byte("port: 1\n---\nport: 2\n"))
	var se *Error
	if !errors.As(err, &se) || se.Line != 2 { // the second document starts at its "---"
		t.Errorf("two documents: %v", err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	got := Errors(errors.Join(a, errors.Join(b, c)))
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Errorf("Errors = %v", got)
	}
	if Errors(nil) != nil {
		t.Errorf("Errors(nil) not empty")
	}
}
