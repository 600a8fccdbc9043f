package registry

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	idRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

	kinds           = []string{KindMCPServer, KindAgent, KindTenant}
	classifications = []string{string(ClassPublic), string(ClassInternal), string(ClassConfidential), string(ClassRestricted)}
	risks           = []string{string(RiskLow), string(RiskMedium), string(RiskHigh), string(RiskCritical)}
)

func validID(s string) bool { return idRE.MatchString(s) }

// ValidToolName reports whether s follows the MCP tool naming rules:
// 1 to 128 characters of ASCII letters, digits, '_', '-' and '.'.
func ValidToolName(s string) bool { return toolNameRE.MatchString(s) }

// spec is the body of one document whose envelope was valid.
type spec struct {
	file string
	line int // of the document's first key
	kind string
	node *yaml.Node
}

func (s spec) source() string { return fmt.Sprintf("%s:%d", s.file, s.line) }

// firstSeen remembers where each id of one kind was first defined, so a
// duplicate names both places.
type firstSeen map[string]string

func (f firstSeen) claim(ps *problems, sp spec, id string, line int) {
	if id == "" {
		return
	}
	if at, dup := f[id]; dup {
		ps.add(sp.file, line, "spec.id", "duplicate %s id %q (first defined at %s)", sp.kind, id, at)
		return
	}
	f[id] = fmt.Sprintf("%s:%d", sp.file, line)
}

// decodeAll decodes every document, tenants and servers before agents so
// that agent references resolve against the full set whatever the file
// order. The result is meaningful only if no problem was added.
func decodeAll(docs []document, ps *problems) *Registry {
	byKind := map[string][]spec{}
	for _, d := range docs {
		if sp, ok := envelope(ps, d); ok {
			byKind[sp.kind] = append(byKind[sp.kind], sp)
		}
	}
	reg := &Registry{}
	tenants, servers := map[string]*Tenant{}, map[string]*Server{}
	seen := map[string]firstSeen{KindTenant: {}, KindMCPServer: {}, KindAgent: {}}
	for _, sp := range byKind[KindTenant] {
		t, line := decodeTenant(ps, sp)
		seen[KindTenant].claim(ps, sp, t.ID, line)
		reg.Tenants = append(reg.Tenants, t)
	}
	for _, sp := range byKind[KindMCPServer] {
		s, line := decodeServer(ps, sp)
		seen[KindMCPServer].claim(ps, sp, s.ID, line)
		reg.Servers = append(reg.Servers, s)
	}
	// Pointers are taken only once the slices stop growing.
	for i := range reg.Tenants {
		tenants[reg.Tenants[i].ID] = cmp.Or(tenants[reg.Tenants[i].ID], &reg.Tenants[i])
	}
	for i := range reg.Servers {
		servers[reg.Servers[i].ID] = cmp.Or(servers[reg.Servers[i].ID], &reg.Servers[i])
	}
	for _, sp := range byKind[KindAgent] {
		a, line := decodeAgent(ps, sp, servers, tenants)
		seen[KindAgent].claim(ps, sp, a.ID, line)
		reg.Agents = append(reg.Agents, a)
	}
	return reg
}

// envelope checks apiVersion, kind and spec; it returns false when the body
// cannot be decoded because its kind is unknown.
func envelope(ps *problems, d document) (spec, bool) {
	o, _ := newObject(ps, d.file, "", d.root, "apiVersion", "kind", "spec")
	api := o.str("apiVersion", true)
	kind := o.str("kind", true)
	body := o.get("spec", true)
	ok := api != "" && kind != "" && body != nil
	if n := o.vals["apiVersion"]; api != "" && api != APIVersion {
		o.errorf(n, "apiVersion", "%q is not a known apiVersion (want %s)", api, APIVersion)
		ok = false
	}
	if n := o.vals["kind"]; kind != "" && !slices.Contains(kinds, kind) {
		o.errorf(n, "kind", "%q is not one of %s", kind, strings.Join(kinds, ", "))
		ok = false
	}
	return spec{file: d.file, line: d.root.Line, kind: kind, node: body}, ok
}

// idLine is the line to blame for a duplicate id: the id itself when present.
func idLine(o *object) int {
	if n := o.vals["id"]; n != nil {
		return n.Line
	}
	return o.node.Line
}

func decodeTenant(ps *problems, sp spec) (Tenant, int) {
	o, ok := newObject(ps, sp.file, "spec", sp.node, "id", "name")
	if !ok {
		return Tenant{}, 0
	}
	return Tenant{ID: o.id("id"), Name: o.str("name", true), Source: sp.source()}, idLine(o)
}

func decodeServer(ps *problems, sp spec) (Server, int) {
	o, ok := newObject(ps, sp.file, "spec", sp.node, "id", "upstream", "owner", "purpose", "classification", "tools", "credential")
	if !ok {
		return Server{}, 0
	}
	s := Server{
		ID:             o.id("id"),
		Upstream:       o.upstream("upstream"),
		Owner:          o.str("owner", true),
		Purpose:        o.str("purpose", true),
		Classification: Classification(o.enum("classification", classifications)),
		Source:         sp.source(),
	}
	if c, ok := o.child("credential", false, "provider"); ok {
		s.Credential = &CredentialRef{Provider: c.id("provider")}
	}
	firstLine := map[string]int{}
	for i, n := range o.seq("tools", true) {
		t, ok := decodeTool(ps, sp.file, elem("spec.tools", i), n)
		if !ok {
			continue
		}
		if t.Name != "" {
			if firstLine[t.Name] != 0 {
				ps.add(sp.file, n.Line, elem("spec.tools", i)+".name", "duplicate tool %q (first at line %d)", t.Name, firstLine[t.Name])
				continue
			}
			firstLine[t.Name] = n.Line
		}
		s.Tools = append(s.Tools, t)
	}
	return s, idLine(o)
}

// upstream reads a required upstream URL. Its value is never echoed in
// messages: a URL with user info would put a credential in a log.
func (o *object) upstream(key string) string {
	n := o.get(key, true)
	if n == nil {
		return ""
	}
	s, ok := o.scalarString(n, join(o.path, key))
	if !ok {
		return ""
	}
	if _, err := parseUpstream(s); err != nil {
		o.errorf(n, key, "%v", err)
	}
	return s
}

func decodeTool(ps *problems, file, path string, n *yaml.Node) (Tool, bool) {
	o, ok := newObject(ps, file, path, n, "name", "title", "description", "risk", "annotations", "inputSchema", "outputSchema", "pin")
	if !ok {
		return Tool{}, false
	}
	t := Tool{Title: o.str("title", false), Description: o.str("description", false), Risk: Risk(o.enum("risk", risks))}
	if name := o.str("name", true); name != "" {
		if !ValidToolName(name) {
			o.errorf(o.vals["name"], "name", "%q is not a valid MCP tool name (1-128 characters of A-Z, a-z, 0-9, '_', '-', '.')", name)
		}
		t.Name = name
	}
	if a, ok := o.child("annotations", false, "title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"); ok {
		t.Annotations = ToolAnnotations{
			Title:           a.str("title", false),
			ReadOnlyHint:    a.boolPtr("readOnlyHint"),
			DestructiveHint: a.boolPtr("destructiveHint"),
			IdempotentHint:  a.boolPtr("idempotentHint"),
			OpenWorldHint:   a.boolPtr("openWorldHint"),
		}
	}
	if s := o.get("inputSchema", true); s != nil {
		t.InputSchema = schemaJSON(ps, file, join(path, "inputSchema"), s)
	}
	if s := o.get("outputSchema", false); s != nil {
		t.OutputSchema = schemaJSON(ps, file, join(path, "outputSchema"), s)
	}
	h, err := t.Definition().Hash()
	if err != nil {
		o.errorf(n, "inputSchema", "%v", err)
	}
	t.defHash = h
	if pin := o.str("pin", false); pin != "" {
		switch {
		case !validPinSyntax(pin):
			o.errorf(o.vals["pin"], "pin", "%q is not a pin (want sha256: and 64 lower-case hex digits)", pin)
		case h != "" && pin != h:
			o.errorf(o.vals["pin"], "pin", "does not match the tool's definition (%s); review the change, then run `actiongate registry pin`", h)
		}
		t.Pin = pin
	}
	return t, true
}

func decodeAgent(ps *problems, sp spec, servers map[string]*Server, tenants map[string]*Tenant) (Agent, int) {
	o, ok := newObject(ps, sp.file, "spec", sp.node,
		"id", "owner", "purpose", "model", "tier", "users", "groups", "tenants", "tools")
	if !ok {
		return Agent{}, 0
	}
	a := Agent{ID: o.id("id"), Owner: o.str("owner", true), Purpose: o.str("purpose", true), Source: sp.source()}
	if m, ok := o.child("model", true, "name", "version"); ok {
		a.Model = Model{Name: m.str("name", true), Version: m.str("version", true)}
	}
	if tier, ok := o.integer("tier"); ok {
		if tier < 1 || tier > 4 {
			o.errorf(o.vals["tier"], "tier", "%d is not an autonomy tier (1, 2, 3 or 4)", tier)
		}
		a.Tier = Tier(tier)
	}
	a.Users, _ = o.stringList("users", false)
	a.Groups, _ = o.stringList("groups", false)
	if len(a.Users) == 0 && len(a.Groups) == 0 {
		ps.add(sp.file, sp.node.Line, "spec.users", "an agent must list at least one user or group it acts for")
	}
	ids, nodes := o.stringList("tenants", true)
	for i, id := range ids {
		if tenants[id] == nil {
			ps.add(sp.file, nodes[i].Line, elem("spec.tenants", i), "unknown tenant %q", id)
		}
	}
	a.Tenants = ids
	refs, nodes := o.stringList("tools", true)
	for i, ref := range refs {
		r, msg := resolveToolRef(ref, servers)
		if msg != "" {
			ps.add(sp.file, nodes[i].Line, elem("spec.tools", i), "%s", msg)
			continue
		}
		a.Tools = append(a.Tools, r)
	}
	return a, idLine(o)
}

// resolveToolRef parses "<server>/<tool>" or "<server>/*" and checks that
// it names something registered; the message is empty when it does.
func resolveToolRef(ref string, servers map[string]*Server) (ToolRef, string) {
	srv, tool, found := strings.Cut(ref, "/")
	if !found || !validID(srv) || (tool != "*" && !ValidToolName(tool)) {
		return ToolRef{}, fmt.Sprintf("%q is not a tool reference (want \"<server>/<tool>\" or \"<server>/*\")", ref)
	}
	s := servers[srv]
	if s == nil {
		return ToolRef{}, fmt.Sprintf("%q names unknown server %q", ref, srv)
	}
	if _, ok := s.Tool(tool); tool != "*" && !ok {
		return ToolRef{}, fmt.Sprintf("%q names unknown tool %q of server %q", ref, tool, srv)
	}
	return ToolRef{Server: srv, Tool: tool}, ""
}

// canonicalize orders everything so that two directories with the same
// meaning produce the same Registry and the same JSON export.
func canonicalize(r *Registry) {
	slices.SortFunc(r.Tenants, func(a, b Tenant) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.Servers, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.Agents, func(a, b Agent) int { return strings.Compare(a.ID, b.ID) })
	for i := range r.Servers {
		s := &r.Servers[i]
		s.Tools = nonNil(s.Tools)
		slices.SortFunc(s.Tools, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	}
	for i := range r.Agents {
		a := &r.Agents[i]
		for _, l := range []*[]string{&a.Users, &a.Groups, &a.Tenants} {
			*l = nonNil(*l)
			slices.Sort(*l)
		}
		a.Tools = nonNil(a.Tools)
		slices.SortFunc(a.Tools, func(x, y ToolRef) int {
			return cmp.Or(strings.Compare(x.Server, y.Server), strings.Compare(x.Tool, y.Tool))
		})
	}
	r.Tenants, r.Servers, r.Agents = nonNil(r.Tenants), nonNil(r.Servers), nonNil(r.Agents)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
