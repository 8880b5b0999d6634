package config

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

// decoder fills a Config from a YAML node tree. It walks the tree itself
// instead of calling yaml's reflection decoder so that every unknown key and
// every bad value is reported with the line it is on, and so that the line of
// every key that was set is remembered for the checks that run afterwards.
// The struct's yaml tags are the schema: a key added to the struct is
// accepted by the file with no change here.
type decoder struct {
	file  string
	lines map[string]int // key path ("tcp.idle-timeout", "zones[1].file") → line
}

// parseYAML decodes data (the contents of file) into c, which holds the
// defaults beforehand. Keys absent from the file keep their defaults.
func parseYAML(file string, data []byte, c *Config) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is all defaults
		}
		return fmt.Errorf("%s: %w", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return &Error{File: file, Line: extra.Line, Msg: "more than one YAML document; a config file holds one"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // a file of comments only
	}
	d := &decoder{file: file, lines: c.lines}
	return d.value(root, reflect.ValueOf(c).Elem(), "")
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
	switch v.Kind() {
	case reflect.Struct:
		return d.mapping(n, v, path)
	case reflect.Slice:
		return d.sequence(n, v, path)
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
	// the test that decodes every key.
	return d.errorf(n, path, "cannot decode into %s", v.Type())
}

// mapping decodes a YAML mapping into struct v, refusing unknown and
// repeated keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "want a mapping of keys to values, got %s", describe(n))
	}
	fields := yamlFields(v.Type())
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
				k.Value, inWhat(path), strings.Join(sortedKeys(fields), ", ")))
			continue
		}
		if err := d.value(val, v.Field(idx), key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sequence decodes a YAML sequence into slice v, replacing what v held
// (a list in the file replaces the default list, it does not extend it).
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
		if err := d.value(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			errs = append(errs, err)
		}
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
	return &Error{File: d.file, Line: n.Line, Key: path, Msg: fmt.Sprintf(format, args...)}
}

// yamlFields maps the yaml tag names of struct type t to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

// yamlName is the key of a struct field in the file, or "" if the field is
// not read from the file.
func yamlName(f reflect.StructField) string {
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

func inWhat(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}
