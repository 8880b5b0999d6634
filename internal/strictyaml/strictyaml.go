// Package strictyaml decodes one YAML document into Go structs strictly:
// an unknown or repeated key, or a value of the wrong kind, is an error that
// carries its line and key path, and the line of every key decoded is
// recorded for the checks that run afterwards.
//
// It walks yaml's node tree itself rather than calling yaml's reflection
// decoder, which stops at the first problem and loses lines. The structs'
// yaml tags are the schema, so a field added to a struct is a key the file
// accepts with no change here. The server's config and the testbed's
// topology both decode through it.
package strictyaml

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in the document: where it is and what is wrong.
type Error struct {
	Line int
	Path string // the key path, e.g. "zones[1].file"; "" at the top
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
}

// ScalarSetter is implemented by types that also accept a plain scalar as a
// shorthand for their mapping form ("secondaries: [us-east]").
type ScalarSetter interface{ SetScalar(s string) }

// Defaulter is implemented by list elements whose defaults are not their
// zero value; they are set before the element's keys are decoded.
type Defaulter interface{ SetDefaults() }

// Errors lists the errors inside err, which Decode returns joined (and
// nested), so that a caller can turn each *Error into its own type.
func Errors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// Document parses data as exactly one YAML document and returns its root
// node, or nil when the document is empty or only comments. A second
// document is an *Error on its line.
func Document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, &Error{Line: extra.Line, Msg: "more than one YAML document; a file holds one"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	return root, nil
}

// Options tune Decode.
type Options struct {
	// Lines, if not nil, receives the line of every key path decoded.
	Lines map[string]int
	// Top names the top level in "unknown key" messages ("the topology");
	// "" says nothing.
	Top string
}

// Decode fills v, a pointer to a struct holding the defaults, from root.
// Keys absent from the document keep their defaults; a list in the document
// replaces the default list. Every problem is reported, joined, each an
// *Error.
func Decode(root *yaml.Node, v any, opts Options) error {
	if root == nil {
		return nil
	}
	if opts.Lines == nil {
		opts.Lines = map[string]int{}
	}
	d := &decoder{Options: opts}
	return d.value(root, reflect.ValueOf(v).Elem(), "")
}

type decoder struct{ Options }

// value decodes node n into v; path names v for messages.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		d.Lines[path] = n.Line
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		s, err := d.scalar(n, path, "a duration such as 10s or 1m30s")
		if err != nil {
			return err
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return d.errorf(n, path, "want a duration such as 10s or 1m30s, got %q", s)
		}
		v.SetInt(int64(dur))
		return nil
	}
	if ss, ok := v.Addr().Interface().(ScalarSetter); ok && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		ss.SetScalar(n.Value)
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.mapping(n, v, path)
	case reflect.Slice:
		return d.sequence(n, v, path)
	case reflect.Map:
		return d.dict(n, v, path)
	case reflect.String:
		s, err := d.scalar(n, path, "a string")
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, err := d.scalar(n, path, "an integer")
		if err != nil {
			return err
		}
		i, err := strconv.ParseInt(s, 0, 64)
		if err != nil || n.ShortTag() != "!!int" || v.OverflowInt(i) {
			return d.errorf(n, path, "want an integer, got %q", s)
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s, err := d.scalar(n, path, "a non-negative integer")
		if err != nil {
			return err
		}
		u, err := strconv.ParseUint(s, 0, 64)
		if err != nil || n.ShortTag() != "!!int" || v.OverflowUint(u) {
			return d.errorf(n, path, "want a non-negative integer, got %q", s)
		}
		v.SetUint(u)
		return nil
	case reflect.Float32, reflect.Float64:
		s, err := d.scalar(n, path, "a number")
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
			return d.errorf(n, path, "want a number, got %q", s)
		}
		v.SetFloat(f)
		return nil
	case reflect.Bool:
		s, err := d.scalar(n, path, "true or false")
		if err != nil {
			return err
		}
		b, err := strconv.ParseBool(s)
		if err != nil || n.ShortTag() != "!!bool" {
			return d.errorf(n, path, "want true or false, got %q", s)
		}
		v.SetBool(b)
		return nil
	}
	// A field of a kind not handled above is a programming error, caught by
	// the callers' tests that decode every key.
	return d.errorf(n, path, "cannot decode into %s", v.Type())
}

// mapping decodes a YAML mapping into struct v, refusing unknown and
// repeated keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "want a mapping of keys to values, got %s", describe(n))
	}
	fields := Fields(v.Type())
	seen := make(map[string]int, len(n.Content)/2)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, d.errorf(k, path, "a key must be a plain string"))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			errs = append(errs, d.errorf(k, key, "key repeated (first at line %d)", line))
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			errs = append(errs, d.errorf(k, key, "unknown key %q%s; known keys: %s",
				k.Value, d.in(path), strings.Join(sortedKeys(fields), ", ")))
			continue
		}
		if err := d.value(val, v.Field(idx), key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sequence decodes a YAML sequence into slice v, replacing what v held,
// with each element's defaults set first.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return d.errorf(n, path, "want a list (\"- item\" lines or [a, b]), got %s", describe(n))
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	var errs []error
	for i, item := range n.Content {
		elem := out.Index(i)
		if df, ok := elem.Addr().Interface().(Defaulter); ok {
			df.SetDefaults()
		}
		if err := d.value(item, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			errs = append(errs, err)
		}
	}
	v.Set(out)
	return errors.Join(errs...)
}

// dict decodes a YAML mapping with free string keys into map v.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "want a mapping, got %s", describe(n))
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			errs = append(errs, d.errorf(k, key, "key repeated (first at line %d)", line))
			continue
		}
		seen[k.Value] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(val, elem, key); err != nil {
			errs = append(errs, err)
			continue
		}
		d.Lines[key] = k.Line
		out.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(out)
	return errors.Join(errs...)
}

// scalar returns the text of a scalar node, or an error saying what was
// wanted instead.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errorf(n, path, "want %s, got %s", want, describe(n))
	}
	return n.Value, nil
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) error {
	return &Error{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// in says where a key is, for "unknown key" messages.
func (d *decoder) in(path string) string {
	switch {
	case path != "":
		return " in " + path
	case d.Top != "":
		return " in " + d.Top
	}
	return ""
}

// Fields maps the yaml tag names of struct type t to field indexes: the
// keys a file may hold for t.
func Fields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := Name(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

// Name is the key of a struct field in a file, or "" if the field is not
// read from files.
func Name(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
