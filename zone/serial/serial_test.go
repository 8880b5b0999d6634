package serial

import (
	"slices"
	"testing"
)

func TestCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b uint32
		want Order
	}{
		{"equal zero", 0, 0, EqualTo},
		{"equal max", 1<<32 - 1, 1<<32 - 1, EqualTo},
		{"plain less", 1, 2, LessThan},
		{"plain greater", 2, 1, GreaterThan},
		{"date serials", 2024010101, 2024010102, LessThan},
		{"wrap: max before zero", 1<<32 - 1, 0, LessThan},
		{"wrap: zero after max", 0, 1<<32 - 1, GreaterThan},
		{"wrap: far side", 4294967290, 5, LessThan},
		{"largest step is less", 0, 1<<31 - 1, LessThan},
		{"largest step back is greater", 1<<31 - 1, 0, GreaterThan},
		{"one past largest step is greater", 0, 1<<31 + 1, GreaterThan},
		{"undefined from zero", 0, 1 << 31, Undefined},
		{"undefined to zero", 1 << 31, 0, Undefined},
		{"undefined across wrap", 1<<32 - 1, 1<<31 - 1, Undefined},
		{"undefined mid", 100, 100 + 1<<31, Undefined},
		// RFC 1982 §5.2's examples, scaled to 32 bits.
		{"rfc example 0<44", 0, 44, LessThan},
		{"rfc example 200<255", 200, 255, LessThan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Errorf("Compare(%d, %d) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got, want := Less(tt.a, tt.b), tt.want == LessThan; got != want {
				t.Errorf("Less(%d, %d) = %v, want %v", tt.a, tt.b, got, want)
			}
			if got, want := Greater(tt.a, tt.b), tt.want == GreaterThan; got != want {
				t.Errorf("Greater(%d, %d) = %v, want %v", tt.a, tt.b, got, want)
			}
			// The relation is antisymmetric, and undefined both ways.
			back := map[Order]Order{EqualTo: EqualTo, LessThan: GreaterThan, GreaterThan: LessThan, Undefined: Undefined}[tt.want]
			if got := Compare(tt.b, tt.a); got != back {
				t.Errorf("Compare(%d, %d) = %v, want %v", tt.b, tt.a, got, back)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s, n    uint32
		want    uint32
		wantErr bool
	}{
		{"zero", 7, 0, 7, false},
		{"one", 7, 1, 8, false},
		{"wraps", 1<<32 - 1, 1, 0, false},
		{"wraps far", 4294967290, 11, 5, false},
		{"largest", 0, MaxAdd, MaxAdd, false},
		{"too large", 0, MaxAdd + 1, 0, true},
		{"way too large", 5, 1<<32 - 1, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Add(tt.s, tt.n)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Add(%d, %d) error = %v, want error %v", tt.s, tt.n, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Add(%d, %d) = %d, want %d", tt.s, tt.n, got, tt.want)
			}
			if err == nil && tt.n > 0 && !Less(tt.s, got) {
				t.Errorf("Add(%d, %d) = %d is not greater than the start", tt.s, tt.n, got)
			}
		})
	}
}

func TestDistanceAndMax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		a, b   uint32
		dist   uint32
		distOK bool
		max    uint32
		maxOK  bool
	}{
		{"equal", 9, 9, 0, true, 9, true},
		{"behind", 9, 12, 3, true, 12, true},
		{"ahead", 12, 9, 0, false, 12, true},
		{"behind across wrap", 1<<32 - 2, 3, 5, true, 3, true},
		{"undefined", 0, 1 << 31, 0, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if d, ok := Distance(tt.a, tt.b); d != tt.dist || ok != tt.distOK {
				t.Errorf("Distance(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, d, ok, tt.dist, tt.distOK)
			}
			if m, ok := Max(tt.a, tt.b); m != tt.max || ok != tt.maxOK {
				t.Errorf("Max(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, m, ok, tt.max, tt.maxOK)
			}
		})
	}
}

func TestSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from, to uint32
		want     []uint32
	}{
		{"same", 5, 5, nil},
		{"forward", 5, 6, []uint32{6}},
		// Going back by one needs 2^32-1 in all: three steps.
		{"back by one", 10, 9, []uint32{10 + MaxAdd, 8, 9}},
		{"back to zero", 2024010101, 1, []uint32{2024010101 + MaxAdd, 1}},
		{"undefined distance", 0, 1 << 31, []uint32{MaxAdd, 1 << 31}},
		{"one behind", 1, 0, []uint32{1 + MaxAdd, 1<<32 - 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Steps(tt.from, tt.to)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Steps(%d, %d) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
			// Every step must be a legal increment of the one before.
			prev := tt.from
			for _, s := range got {
				if !Less(prev, s) {
					t.Errorf("step %d → %d does not go forward", prev, s)
				}
				prev = s
			}
		})
	}
}

func TestOrderString(t *testing.T) {
	t.Parallel()
	for o, want := range map[Order]string{EqualTo: "equal", LessThan: "less", GreaterThan: "greater", Undefined: "undefined", 9: "order(9)", -1: "order(-1)"} {
		if got := o.String(); got != want {
			t.Errorf("Order(%d).String() = %q, want %q", int8(o), got, want)
		}
	}
}
