package authzmodel

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Relationship is one SpiceDB relationship, with ids already escaped
// (ObjectID). It is comparable: two relationships are the same exactly when
// they are ==.
type Relationship struct {
	ResourceType    string
	ResourceID      string
	Relation        string
	SubjectType     string
	SubjectID       string
	SubjectRelation string // "" for a plain subject
	Caveat          string // caveat name, "" for none
	// CaveatContext is the stored caveat context as canonical JSON (keys
	// sorted, no spaces), "" for none.
	CaveatContext string
}

// String is zed's relationship syntax, e.g.
// tool:ehr/read_chart#agent_grant@agent:note-summarizer or
// group:staff#claimed@user:*[in_groups:{"group":"staff"}].
func (r Relationship) String() string {
	var b strings.Builder
	b.WriteString(r.ResourceType + ":" + r.ResourceID + "#" + r.Relation + "@" + r.SubjectType + ":" + r.SubjectID)
	if r.SubjectRelation != "" {
		b.WriteString("#" + r.SubjectRelation)
	}
	if r.Caveat != "" {
		b.WriteString("[" + r.Caveat)
		if r.CaveatContext != "" {
			b.WriteString(":" + r.CaveatContext)
		}
		b.WriteString("]")
	}
	return b.String()
}

// key identifies the relationship the way SpiceDB does: resource, relation
// and subject. The caveat is an attribute, replaced by a TOUCH.
type key struct {
	resourceType, resourceID, relation string
	subjectType, subjectID, subjectRel string
}

func (r Relationship) key() key {
	return key{r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation}
}

// caveated builds a relationship with a one-parameter caveat.
func caveated(r Relationship, caveat, param, value string) Relationship {
	b, _ := json.Marshal(map[string]string{param: value}) // strings always marshal
	r.Caveat, r.CaveatContext = caveat, string(b)
	return r
}

// proto converts r for a write.
func (r Relationship) proto() (*v1.Relationship, error) {
	p := &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: r.ResourceType, ObjectId: r.ResourceID},
		Relation: r.Relation,
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: r.SubjectType, ObjectId: r.SubjectID},
			OptionalRelation: r.SubjectRelation,
		},
	}
	if r.Caveat == "" {
		return p, nil
	}
	p.OptionalCaveat = &v1.ContextualizedCaveat{CaveatName: r.Caveat}
	if r.CaveatContext != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(r.CaveatContext), &m); err != nil {
			return nil, fmt.Errorf("%s: caveat context: %w", r, err)
		}
		s, err := structpb.NewStruct(m)
		if err != nil {
			return nil, fmt.Errorf("%s: caveat context: %w", r, err)
		}
		p.OptionalCaveat.Context = s
	}
	return p, nil
}

// fromProto converts a relationship read from SpiceDB.
func fromProto(p *v1.Relationship) (Relationship, error) {
	r := Relationship{
		ResourceType:    p.GetResource().GetObjectType(),
		ResourceID:      p.GetResource().GetObjectId(),
		Relation:        p.GetRelation(),
		SubjectType:     p.GetSubject().GetObject().GetObjectType(),
		SubjectID:       p.GetSubject().GetObject().GetObjectId(),
		SubjectRelation: p.GetSubject().GetOptionalRelation(),
		Caveat:          p.GetOptionalCaveat().GetCaveatName(),
	}
	if ctx := p.GetOptionalCaveat().GetContext(); len(ctx.GetFields()) > 0 {
		// encoding/json sorts map keys, so equal contexts compare equal;
		// protojson output is deliberately unstable and cannot be compared.
		b, err := json.Marshal(ctx.AsMap())
		if err != nil {
			return Relationship{}, fmt.Errorf("%s: caveat context: %w", r, err)
		}
		r.CaveatContext = string(b)
	}
	return r, nil
}
