package config

import (
	"errors"
	"fmt"

	"github.com/meridian-dns/meridian/internal/strictyaml"
)

// parseYAML decodes data (the contents of file) into c, which holds the
// defaults beforehand, strictly (internal/strictyaml): an unknown or
// repeated key, or a bad value, is an Error naming the key and its line,
// and the line of every key set is kept in c.lines for the checks that run
// afterwards. Keys absent from the file keep their defaults; an empty file
// is all defaults.
func parseYAML(file string, data []byte, c *Config) error {
	root, err := strictyaml.Document(data)
	if err == nil {
		err = strictyaml.Decode(root, c, strictyaml.Options{Lines: c.lines})
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
		if errors.As(e, &se) {
			out = append(out, &Error{File: file, Line: se.Line, Key: se.Path, Msg: se.Msg})
		} else {
			out = append(out, fmt.Errorf("%s: %w", file, e))
		}
	}
	return errors.Join(out...)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
