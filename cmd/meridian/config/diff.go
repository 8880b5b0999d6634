package config

import (
	"reflect"
	"strings"

	"github.com/meridian-dns/meridian/internal/strictyaml"
)

// Changed lists the keys, named as in the file ("resolver.cache.max-ttl"),
// whose values differ between a and b, two values of the same struct type
// from this package; prefix names the struct itself ("" for a Config). A
// list counts as one key. A reload uses it to say what it applies and
// what needs a restart.
func Changed(prefix string, a, b any) []string {
	return changed(prefix, reflect.ValueOf(a), reflect.ValueOf(b), nil)
}

func changed(path string, a, b reflect.Value, out []string) []string {
	if a.Kind() == reflect.Struct {
		for i := range a.NumField() {
			name := strictyaml.Name(a.Type().Field(i))
			if name == "" {
				continue
			}
			out = changed(join(path, name), a.Field(i), b.Field(i), out)
		}
		return out
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		out = append(out, path)
	}
	return out
}

// Lookup returns the value at key ("resolver.cache.max-ttl") in v, a value
// of a struct type from this package, or nil when there is none. Lists are
// not indexed.
func Lookup(v any, key string) any {
	rv := reflect.ValueOf(v)
	for name := range strings.SplitSeq(key, ".") {
		if rv.Kind() != reflect.Struct {
			return nil
		}
		i, ok := strictyaml.Fields(rv.Type())[name]
		if !ok {
			return nil
		}
		rv = rv.Field(i)
	}
	return rv.Interface()
}
