package authzmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"
	"gopkg.in/yaml.v3"
)

// modelFile is testdata/model.yaml: a SpiceDB validation file (the format
// `zed validate` reads) holding the schema, the relationships the example
// registry implies, the allow/deny assertions and the expected relations.
type modelFile struct {
	Schema        string `yaml:"schema"`
	Relationships string `yaml:"relationships"`
	Assertions    struct {
		AssertTrue     []string `yaml:"assertTrue"`
		AssertFalse    []string `yaml:"assertFalse"`
		AssertCaveated []string `yaml:"assertCaveated"`
	} `yaml:"assertions"`
	Validation map[string][]string `yaml:"validation"`
}

func readModelFile(t *testing.T) modelFile {
	t.Helper()
	b, err := os.ReadFile("testdata/model.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m modelFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("testdata/model.yaml: %v", err)
	}
	return m
}

func TestModelFile_SchemaIsEmbedded(t *testing.T) {
	t.Parallel()
	m := readModelFile(t)
	if strings.TrimSpace(m.Schema) != strings.TrimSpace(Schema) {
		t.Fatal("testdata/model.yaml's schema differs from schema.zed: paste schema.zed into it")
	}
}

func TestModelFile_RelationshipsAreDesired(t *testing.T) {
	t.Parallel()
	m := readModelFile(t)
	var want []string
	for _, r := range Desired(loadExample(t)) {
		want = append(want, r.String())
	}
	// The file also revokes someone, to assert revocations; those are not
	// the registry's.
	var got []string
	for _, l := range relationshipLines(m.Relationships) {
		if !strings.HasPrefix(l, typeRevocations+":") {
			got = append(got, l)
		}
	}
	slices.Sort(got) // the file groups them by topic; Desired sorts
	if !slices.Equal(got, want) {
		t.Fatalf("testdata/model.yaml's relationships are not Desired(examples/registry); want:\n%s", strings.Join(want, "\n"))
	}
}

// TestModelFile_CoversMatrix: every row of the Go matrix is an assertion of
// the file, with the same answer, so the two cannot drift apart.
func TestModelFile_CoversMatrix(t *testing.T) {
	t.Parallel()
	m := readModelFile(t)
	index := map[string]bool{}
	for want, list := range map[bool][]string{true: m.Assertions.AssertTrue, false: m.Assertions.AssertFalse} {
		for _, a := range list {
			rel, ctx, err := parseAssertion(a)
			if err != nil {
				t.Fatalf("assertion %q: %v", a, err)
			}
			index[assertionKey(rel, ctx)] = want
		}
	}
	for _, tc := range matrix {
		rel := fmt.Sprintf("tool:%s#invoke@user:%s", toolObjectID(tc.server, tc.tool), ObjectID(tc.user))
		ctx := map[string]any{"agent": tc.agent, "tenant": tc.tenant, "groups": stringsToAny(tc.groups)}
		got, ok := index[assertionKey(rel, ctx)]
		if !ok {
			t.Errorf("%s: no assertion %s with %v", tc.name, rel, ctx)
		} else if got != tc.allow {
			t.Errorf("%s: asserted %v, the matrix says %v", tc.name, got, tc.allow)
		}
	}
}

// TestModelFile_Assertions loads the file into a real SpiceDB and checks
// every assertion, as `zed validate` would.
func TestModelFile_Assertions(t *testing.T) {
	t.Parallel()
	c, _ := freshClient(t)
	m := readModelFile(t)
	ctx := testContext(t)
	if _, err := c.api.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: m.Schema}); err != nil {
		t.Fatalf("write the file's schema: %v", err)
	}
	var updates []*v1.RelationshipUpdate
	for _, line := range relationshipLines(m.Relationships) {
		r, err := parseRelationship(line)
		if err != nil {
			t.Fatalf("relationship %q: %v", line, err)
		}
		p, err := r.proto()
		if err != nil {
			t.Fatal(err)
		}
		updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: p})
	}
	resp, err := c.api.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates})
	if err != nil {
		t.Fatalf("write the file's relationships: %v", err)
	}
	at := &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: resp.GetWrittenAt()}}
	t.Run("assertions", func(t *testing.T) {
		for want, list := range map[v1.CheckPermissionResponse_Permissionship][]string{
			v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:         m.Assertions.AssertTrue,
			v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION:          m.Assertions.AssertFalse,
			v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION: m.Assertions.AssertCaveated,
		} {
			if len(list) == 0 {
				t.Errorf("no %v assertions", want)
			}
			for _, a := range list {
				if got := checkAssertion(t, c, at, a); got != want {
					t.Errorf("%s: got %v, want %v", a, got, want)
				}
			}
		}
	})
	t.Run("validation", func(t *testing.T) {
		if len(m.Validation) == 0 {
			t.Fatal("no validation block")
		}
		for onr, entries := range m.Validation {
			want := expectedSubjects(t, entries)
			got := lookupSubjects(t, c, at, onr, want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: subjects\n got %q\nwant %q", onr, got, want)
			}
		}
	})
}

// expectedSubjects reads "[user:x[...]] is <...>" entries into sorted
// "user:x[...]" strings, dropping the explanation after "is".
func expectedSubjects(t *testing.T, entries []string) []string {
	t.Helper()
	var out []string
	for _, e := range entries {
		subj, _, ok := strings.Cut(e, "] is ")
		if !ok || !strings.HasPrefix(subj, "[") {
			t.Fatalf("validation entry %q is not \"[subject] is <...>\"", e)
		}
		out = append(out, subj[1:])
	}
	slices.Sort(out)
	return out
}

// lookupSubjects asks SpiceDB who holds onr ("type:id#permission"), for
// every subject type the expectation names, in the expectation's syntax.
func lookupSubjects(t *testing.T, c *Client, at *v1.Consistency, onr string, want []string) []string {
	t.Helper()
	obj, perm, _ := strings.Cut(onr, "#")
	resType, resID, _ := strings.Cut(obj, ":")
	kinds := map[[2]string]bool{}
	for _, w := range want {
		w, _, _ = strings.Cut(w, " - ") // a wildcard's exceptions
		typ, rest, _ := strings.Cut(w, ":")
		_, rel, _ := strings.Cut(strings.TrimSuffix(rest, "[...]"), "#")
		kinds[[2]string{typ, rel}] = true
	}
	var out []string
	for k := range kinds {
		stream, err := c.api.LookupSubjects(testContext(t), &v1.LookupSubjectsRequest{
			Consistency:             at,
			Resource:                &v1.ObjectReference{ObjectType: resType, ObjectId: resID},
			Permission:              perm,
			SubjectObjectType:       k[0],
			OptionalSubjectRelation: k[1],
		})
		if err != nil {
			t.Fatalf("lookup subjects of %s: %v", onr, err)
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("lookup subjects of %s: %v", onr, err)
			}
			s := k[0] + ":" + resp.GetSubject().GetSubjectObjectId()
			if k[1] != "" {
				s += "#" + k[1]
			}
			if resp.GetSubject().GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
				s += "[...]"
			}
			out = append(out, s+exceptions(k[0], resp.GetExcludedSubjects()))
		}
	}
	slices.Sort(out)
	return out
}

// exceptions renders the subjects a wildcard excludes as the validation
// format does: " - {user:a, user:b[...]}", "" for none.
func exceptions(typ string, excluded []*v1.ResolvedSubject) string {
	if len(excluded) == 0 {
		return ""
	}
	var names []string
	for _, e := range excluded {
		n := typ + ":" + e.GetSubjectObjectId()
		if e.GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
			n += "[...]"
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return " - {" + strings.Join(names, ", ") + "}"
}

func checkAssertion(t *testing.T, c *Client, at *v1.Consistency, a string) v1.CheckPermissionResponse_Permissionship {
	t.Helper()
	relStr, caveatCtx, err := parseAssertion(a)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRelationship(relStr)
	if err != nil {
		t.Fatal(err)
	}
	pbCtx, err := structpb.NewStruct(caveatCtx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.api.CheckPermission(testContext(t), &v1.CheckPermissionRequest{
		Consistency: at,
		Resource:    &v1.ObjectReference{ObjectType: r.ResourceType, ObjectId: r.ResourceID},
		Permission:  r.Relation,
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: r.SubjectType, ObjectId: r.SubjectID},
			OptionalRelation: r.SubjectRelation,
		},
		Context: pbCtx,
	})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return resp.GetPermissionship()
}

// relationshipLines splits a relationships block, skipping blanks and
// "//" comments as SpiceDB does.
func relationshipLines(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "//") {
			out = append(out, l)
		}
	}
	return out
}

// parseRelationship reads zed's syntax, the inverse of Relationship.String.
func parseRelationship(s string) (Relationship, error) {
	var r Relationship
	res, subj, ok := strings.Cut(s, "@")
	if !ok {
		return r, fmt.Errorf("no '@'")
	}
	if i := strings.IndexByte(subj, '['); i >= 0 {
		if !strings.HasSuffix(subj, "]") {
			return r, fmt.Errorf("unterminated caveat")
		}
		cav := subj[i+1 : len(subj)-1]
		subj = subj[:i]
		r.Caveat, r.CaveatContext, _ = strings.Cut(cav, ":")
		if r.CaveatContext != "" {
			var m map[string]any
			if err := json.Unmarshal([]byte(r.CaveatContext), &m); err != nil {
				return r, fmt.Errorf("caveat context: %w", err)
			}
			b, _ := json.Marshal(m)
			r.CaveatContext = string(b)
		}
	}
	obj, rel, ok := strings.Cut(res, "#")
	if !ok {
		return r, fmt.Errorf("no '#' in the resource")
	}
	r.Relation = rel
	if r.ResourceType, r.ResourceID, ok = strings.Cut(obj, ":"); !ok {
		return r, fmt.Errorf("no ':' in the resource")
	}
	obj, r.SubjectRelation, _ = strings.Cut(subj, "#")
	if r.SubjectType, r.SubjectID, ok = strings.Cut(obj, ":"); !ok {
		return r, fmt.Errorf("no ':' in the subject")
	}
	return r, nil
}

// parseAssertion splits "<relationship> with {context}".
func parseAssertion(a string) (string, map[string]any, error) {
	rel, ctxJSON, ok := strings.Cut(a, " with ")
	if !ok {
		return rel, nil, nil
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(ctxJSON), &ctx); err != nil {
		return "", nil, fmt.Errorf("context: %w", err)
	}
	return strings.TrimSpace(rel), ctx, nil
}

func assertionKey(rel string, ctx map[string]any) string {
	if g, ok := ctx["groups"].([]any); ok && len(g) == 0 {
		ctx["groups"] = []any{} // nil and empty lists are the same claim
	}
	b, _ := json.Marshal(ctx)
	return rel + " " + string(b)
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
