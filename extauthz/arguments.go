package extauthz

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/actiongate/actiongate/internal/registry"
)

// Schemas are the input schemas of one registry version, compiled once.
// Arguments are validated against the schema *pinned in the registry*, not
// whatever the upstream advertises now.
type Schemas struct {
	version registry.Version
	byTool  map[string]*jsonschema.Schema // "<server>/<tool>"
}

// CompileSchemas compiles every tool's input schema. Object schemas that do
// not say otherwise are closed (additionalProperties: false): an argument
// nobody declared is how an exfiltration side channel gets added.
func CompileSchemas(reg *registry.Registry) (*Schemas, error) {
	s := &Schemas{version: reg.Version, byTool: map[string]*jsonschema.Schema{}}
	c := jsonschema.NewCompiler()
	var errs []error
	for _, srv := range reg.Servers {
		for _, t := range srv.Tools {
			key := srv.ID + "/" + t.Name
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(t.InputSchema))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: input schema: %w", key, err))
				continue
			}
			closeObjects(doc)
			url := "actiongate:///" + key
			if err := c.AddResource(url, doc); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				continue
			}
			sch, err := c.Compile(url)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: input schema: %w", key, err))
				continue
			}
			s.byTool[key] = sch
		}
	}
	return s, errors.Join(errs...)
}

// closeObjects adds additionalProperties: false to every schema object
// that declares properties and says nothing about additional ones.
func closeObjects(v any) {
	switch n := v.(type) {
	case map[string]any:
		_, hasProps := n["properties"]
		_, hasAdd := n["additionalProperties"]
		_, hasUneval := n["unevaluatedProperties"]
		if hasProps && !hasAdd && !hasUneval {
			n["additionalProperties"] = false
		}
		for _, child := range n {
			closeObjects(child)
		}
	case []any:
		for _, child := range n {
			closeObjects(child)
		}
	}
}

var printer = message.NewPrinter(language.English)

// validate checks arguments (nil means {}) against server/tool's schema
// and returns a client-safe description of the first violation.
func (s *Schemas) validate(server, tool string, arguments []byte) (string, bool) {
	sch, ok := s.byTool[server+"/"+tool]
	if !ok {
		return fmt.Sprintf("no compiled input schema for %s/%s", server, tool), false
	}
	if len(arguments) == 0 {
		arguments = []byte("{}")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(arguments))
	if err != nil {
		return "arguments are not valid JSON", false
	}
	err = sch.Validate(inst)
	if err == nil {
		return "", true
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "arguments could not be validated", false
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	at := "/" + strings.Join(leaf.InstanceLocation, "/")
	return fmt.Sprintf("arguments%s: %s", strings.TrimSuffix(at, "/"), leaf.ErrorKind.LocalizedString(printer)), false
}

// SchemaCache keeps the compiled schemas of the registry version in use;
// Compile runs off the request path when a version is published.
type SchemaCache struct{ cur atomic.Pointer[Schemas] }

// Update compiles reg's schemas and swaps them in; on error the schemas
// that did compile are still used and tools whose schema failed deny.
func (c *SchemaCache) Update(reg *registry.Registry) error {
	s, err := CompileSchemas(reg)
	c.cur.Store(s)
	return err
}

// For returns the schemas of reg's version, compiling them if the cache
// holds another version (only on a race with Update).
func (c *SchemaCache) For(reg *registry.Registry) *Schemas {
	if s := c.cur.Load(); s != nil && s.version == reg.Version {
		return s
	}
	s, _ := CompileSchemas(reg)
	c.cur.Store(s)
	return s
}
