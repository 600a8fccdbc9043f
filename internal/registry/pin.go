package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gowebpki/jcs"
)

// PinPrefix starts every tool pin: the hash algorithm, as in the registry
// version's content hash.
const PinPrefix = "sha256:"

// Definition is what an MCP server advertises for one tool in tools/list
// and what the model reads: the part a pin covers. Fields the gateway does
// not pin (icons, _meta, execution hints) are left out on purpose: they do
// not change what the tool does or what the model is told about it.
type Definition struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  *Annotations    `json:"annotations,omitempty"`
}

// Annotations are the pinned MCP tool annotations as advertised.
type Annotations struct {
	Title           string `json:"title,omitempty"`
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
}

func (a *Annotations) empty() bool {
	return a == nil || (a.Title == "" && a.ReadOnlyHint == nil && a.DestructiveHint == nil &&
		a.IdempotentHint == nil && a.OpenWorldHint == nil)
}

// ParseDefinition reads one tool object of a tools/list result. Unknown
// members are ignored (they are not pinned); a tool without a name is an
// error.
func ParseDefinition(raw []byte) (Definition, error) {
	var d Definition
	if err := json.Unmarshal(raw, &d); err != nil {
		return Definition{}, fmt.Errorf("tool definition: %w", err)
	}
	if d.Name == "" {
		return Definition{}, fmt.Errorf("tool definition has no name")
	}
	return d, nil
}

// Hash is the pin of a definition: "sha256:" and the hex SHA-256 of its
// RFC 8785 canonical JSON. Schema key order and white space do not change
// it; an empty annotations object is the same as none; anything a model
// reads (description, titles, schemas, hints) does.
func (d Definition) Hash() (string, error) {
	if d.Annotations.empty() {
		d.Annotations = nil
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return "", fmt.Errorf("canonicalizing tool %q: %w", d.Name, err)
	}
	sum := sha256.Sum256(canon)
	return PinPrefix + hex.EncodeToString(sum[:]), nil
}

// Definition is the registered definition of t, as the upstream must
// advertise it.
func (t *Tool) Definition() Definition {
	a := Annotations(t.Annotations)
	return Definition{
		Name: t.Name, Title: t.Title, Description: t.Description,
		InputSchema: t.InputSchema, OutputSchema: t.OutputSchema, Annotations: &a,
	}
}

// DefinitionHash is the hash of the registered definition: what the pin
// must say. Load computes it once; a Tool built by hand computes it here,
// and "" means its schema is not JSON (which Load refuses).
func (t *Tool) DefinitionHash() string {
	if t.defHash != "" {
		return t.defHash
	}
	h, _ := t.Definition().Hash()
	return h
}

// validPinSyntax reports whether s looks like a pin.
func validPinSyntax(s string) bool {
	h, ok := strings.CutPrefix(s, PinPrefix)
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}
