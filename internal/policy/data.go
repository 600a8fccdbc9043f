package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"
)

// maxDataDepth bounds nesting in data.json; policy data is tables, not trees.
const maxDataDepth = 64

// mergeData places each data.json at its directory's path under data and
// refuses any key two files (or one file twice) would both set: ambiguous
// policy data must not be resolved by whichever file happened to load last.
func mergeData(docs []sourceFile) (map[string]any, error) {
	root := map[string]any{}
	for _, f := range docs {
		v, err := decodeStrictJSON(f.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: the document must be a JSON object", f.path)
		}
		if err := placeData(root, dataPath(f.path), obj); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	return root, nil
}

// dataPath is the data path of a data.json file: its directory's segments.
func dataPath(file string) []string {
	dir := path.Dir(file)
	if dir == "." {
		return nil
	}
	return strings.Split(dir, "/")
}

func placeData(root map[string]any, at []string, obj map[string]any) error {
	node := root
	for i, seg := range at {
		next, ok := node[seg]
		if !ok {
			m := map[string]any{}
			node[seg], node = m, m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("data.%s is already set to a non-object", strings.Join(at[:i+1], "."))
		}
		node = m
	}
	for k, v := range obj {
		if _, dup := node[k]; dup {
			return fmt.Errorf("data.%s is set by more than one data.json", strings.Join(append(at, k), "."))
		}
		node[k] = v
	}
	return nil
}

// decodeStrictJSON decodes one JSON value with numbers kept exact
// (json.Number), refusing duplicate object keys, invalid UTF-8, excessive
// nesting and trailing data.
func decodeStrictJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value at offset %d", dec.InputOffset())
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDataDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDataDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON near offset %d: %w", dec.InputOffset(), err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return decodeObject(dec, depth)
		}
		if t == '[' {
			return decodeArray(dec, depth)
		}
		return nil, fmt.Errorf("unexpected %q at offset %d", t, dec.InputOffset())
	default:
		return t, nil // string, json.Number, bool or nil
	}
}

func decodeObject(dec *json.Decoder, depth int) (any, error) {
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON near offset %d: %w", dec.InputOffset(), err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key expected at offset %d", dec.InputOffset())
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("duplicate key %q at offset %d", key, dec.InputOffset())
		}
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("invalid JSON near offset %d: %w", dec.InputOffset(), err)
	}
	return obj, nil
}

func decodeArray(dec *json.Decoder, depth int) (any, error) {
	arr := []any{}
	for dec.More() {
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON near offset %d: %w", dec.InputOffset(), err)
	}
	return arr, nil
}
