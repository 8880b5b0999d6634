package topology

import (
	"errors"
	"fmt"

	"github.com/meridian-dns/meridian/internal/strictyaml"
)

// decode parses data (the contents of file) into t, which holds defaults,
// strictly (internal/strictyaml, as the server's config): an unknown key or
// a bad value is an Error with its line, and the line of every key is kept
// in t.lines for the checks that run after decoding. The yaml tags of the
// structs are the schema.
func decode(file string, data []byte, t *Topology) error {
	root, err := strictyaml.Document(data)
	if err == nil && root == nil {
		return &Error{File: file, Msg: "empty topology"}
	}
	if err == nil {
		err = strictyaml.Decode(root, t, strictyaml.Options{Lines: t.lines, Top: "the topology"})
	}
	return fileErrors(file, err)
}

// fileErrors turns strictyaml's errors into this package's, naming file.
func fileErrors(file string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range strictyaml.Errors(err) {
		var se *strictyaml.Error
		switch {
		case errors.As(e, &se) && se.Path != "":
			out = append(out, &Error{File: file, Line: se.Line, Msg: se.Path + ": " + se.Msg})
		case errors.As(e, &se):
			out = append(out, &Error{File: file, Line: se.Line, Msg: se.Msg})
		default:
			out = append(out, fmt.Errorf("topology: %s: %w", file, e))
		}
	}
	return errors.Join(out...)
}
