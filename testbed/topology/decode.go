package topology

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

// decoder fills a Topology from a YAML node tree. It walks the tree itself
// rather than calling yaml's reflection decoder so that an unknown key or a
// bad value is reported with its line, and so that the line of every key is
// kept for the checks that run after decoding (the same approach as the
// server's config decoder, which is internal to cmd/meridian). The yaml
// tags of the structs are the schema.
type decoder struct {
	file  string
	lines map[string]int // key path ("zones[1].primary") → line
}

// scalarSetter is implemented by types that also accept a plain scalar as a
// shorthand for their mapping form ("secondaries: [us-east]").
type scalarSetter interface {
	setScalar(s string)
}

// defaulter is implemented by list elements that have defaults other than
// their zero value; they are set before the element's keys are decoded.
type defaulter interface {
	setDefaults()
}

// decode parses data (the contents of file) into t, which holds defaults.
func decode(file string, data []byte, t *Topology) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{File: file, Msg: "empty topology"}
		}
		return fmt.Errorf("topology: %s: %w", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("topology: %s: %w", file, err)
		}
		return &Error{File: file, Line: extra.Line, Msg: "more than one YAML document; a topology file holds one"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	d := &decoder{file: file, lines: t.lines}
	return d.value(root, reflect.ValueOf(t).Elem(), "")
}

// value decodes node n into v; path names v for messages ("" is the top).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		s, err := d.scalar(n, path, "a duration such as 2ms")
		if err != nil {
			return err
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return d.errorf(n, "%s: want a duration such as 2ms, got %q", path, s)
		}
		v.SetInt(int64(dur))
		return nil
	}
	if ss, ok := v.Addr().Interface().(scalarSetter); ok && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		ss.setScalar(n.Value)
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
	case reflect.Int, reflect.Int64, reflect.Uint16, reflect.Uint64:
		s, err := d.scalar(n, path, "an integer")
		if err != nil {
			return err
		}
		i, err := strconv.ParseInt(s, 0, 64)
		if err != nil || n.ShortTag() != "!!int" {
			return d.errorf(n, "%s: want an integer, got %q", path, s)
		}
		if v.CanInt() && !v.OverflowInt(i) {
			v.SetInt(i)
			return nil
		}
		if v.CanUint() && i >= 0 && !v.OverflowUint(uint64(i)) {
			v.SetUint(uint64(i))
			return nil
		}
		return d.errorf(n, "%s: %d is out of range", path, i)
	case reflect.Float64:
		s, err := d.scalar(n, path, "a number")
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
			return d.errorf(n, "%s: want a number, got %q", path, s)
		}
		v.SetFloat(f)
		return nil
	}
	return d.errorf(n, "%s: cannot decode into %s", path, v.Type())
}

// mapping decodes a YAML mapping into struct v, refusing unknown and
// repeated keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, "%s: want a mapping of keys to values, got %s", orTop(path), describe(n))
	}
	fields := yamlFields(v.Type())
	seen := make(map[string]int, len(n.Content)/2)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			errs = append(errs, d.errorf(k, "%s: key repeated (first at line %d)", key, line))
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			errs = append(errs, d.errorf(k, "unknown key %q in %s; known keys: %s",
				k.Value, orTop(path), strings.Join(sortedKeys(fields), ", ")))
			continue
		}
		if err := d.value(val, v.Field(idx), key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sequence decodes a YAML sequence into slice v, setting each element's
// defaults first.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return d.errorf(n, "%s: want a list, got %s", path, describe(n))
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	var errs []error
	for i, item := range n.Content {
		elem := out.Index(i)
		if df, ok := elem.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		if err := d.value(item, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			errs = append(errs, err)
		}
	}
	v.Set(out)
	return errors.Join(errs...)
}

// dict decodes a YAML mapping with free keys into map v (string keys).
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, "%s: want a mapping, got %s", path, describe(n))
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if out.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			errs = append(errs, d.errorf(k, "%s: key repeated (first at line %d)", key, d.lines[key]))
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(val, elem, key); err != nil {
			errs = append(errs, err)
			continue
		}
		d.lines[key] = k.Line
		out.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(out)
	return errors.Join(errs...)
}

// scalar returns the text of a scalar node, or an error saying what was
// wanted instead.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errorf(n, "%s: want %s, got %s", path, want, describe(n))
	}
	return n.Value, nil
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) error {
	return &Error{File: d.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

// yamlFields maps the yaml tag names of struct type t to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
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

func orTop(path string) string {
	if path == "" {
		return "the topology"
	}
	return path
}
