package authzmodel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiongate/actiongate/internal/registry"
)

// maxUpdatesPerWrite is SpiceDB's default limit on updates in one
// WriteRelationships (--write-relationships-max-updates-per-call).
const maxUpdatesPerWrite = 1000

// readPageSize is SpiceDB's default --max-read-relationships-limit.
const readPageSize = 1000

// SyncOptions configure Sync.
type SyncOptions struct {
	// DryRun computes and returns the diff and writes nothing, not even
	// the schema.
	DryRun bool
}

// Diff is what Sync found between SpiceDB and the registry.
type Diff struct {
	// SchemaChanged: the stored schema differed from Schema (and was
	// rewritten unless DryRun).
	SchemaChanged bool
	Add           []Relationship // absent in SpiceDB: TOUCH
	Change        []Relationship // present with another caveat: TOUCH (the new form)
	Remove        []Relationship // not implied by the registry: DELETE
	DryRun        bool
	// WrittenAt is the ZedToken of the last write, "" if nothing was
	// written. Checks from this client are at least this fresh.
	WrittenAt string
}

// Empty reports whether SpiceDB already matched the registry.
func (d Diff) Empty() bool {
	return !d.SchemaChanged && len(d.Add)+len(d.Change)+len(d.Remove) == 0
}

// String lists the diff, one relationship per line: "- " removed,
// "+ " added, "~ " caveat replaced. It is empty when the diff is.
func (d Diff) String() string {
	var b strings.Builder
	if d.SchemaChanged {
		b.WriteString("~ schema\n")
	}
	for _, r := range d.Remove {
		b.WriteString("- " + r.String() + "\n")
	}
	for _, r := range d.Add {
		b.WriteString("+ " + r.String() + "\n")
	}
	for _, r := range d.Change {
		b.WriteString("~ " + r.String() + "\n")
	}
	return b.String()
}

// Sync makes SpiceDB hold exactly Desired(reg) among the relationships of
// the managed types (tool, server, agent, tenant, group), after making sure
// the schema is Schema. The registry is the source of truth: relationships
// of those types that it does not imply are deleted, whoever wrote them.
// Removals are written before additions, so no intermediate state grants
// what neither the old nor the new registry grants. A second Sync with the
// same registry finds nothing to do.
func (c *Client) Sync(ctx context.Context, reg *registry.Registry, opts SyncOptions) (Diff, error) {
	if reg == nil {
		return Diff{}, errors.New("sync: no registry")
	}
	desired := Desired(reg)
	for _, r := range desired {
		if len(r.ResourceID) > maxObjectID || len(r.SubjectID) > maxObjectID {
			return Diff{}, fmt.Errorf("registry: %.80s…: object id longer than %d bytes", r, maxObjectID)
		}
	}
	d := Diff{DryRun: opts.DryRun}
	var err error
	if opts.DryRun {
		d.SchemaChanged, err = c.SchemaDiffers(ctx)
	} else {
		d.WrittenAt, err = c.ensureSchema(ctx)
		d.SchemaChanged = d.WrittenAt != ""
	}
	if err != nil {
		return Diff{}, err
	}
	current, err := c.readManaged(ctx, opts.DryRun && d.SchemaChanged)
	if err != nil {
		return Diff{}, err
	}
	d.Add, d.Change, d.Remove = compare(desired, current)
	if opts.DryRun {
		return d, nil
	}
	token, err := c.write(ctx, d)
	if token != "" {
		d.WrittenAt = token
	}
	if err != nil {
		return d, err
	}
	c.UseRegistry(reg)
	level := slog.LevelInfo
	if d.Empty() {
		level = slog.LevelDebug
	}
	c.log.Log(ctx, level, "spicedb relationships synced", "registry_version", reg.Version.String(),
		"schema_written", d.SchemaChanged, "added", len(d.Add), "changed", len(d.Change), "removed", len(d.Remove),
		"zedtoken", d.WrittenAt)
	return d, nil
}

// compare splits desired against current into additions, caveat changes
// and removals, each in desired or current order.
func compare(desired, current []Relationship) (add, change, remove []Relationship) {
	have := make(map[key]Relationship, len(current))
	for _, r := range current {
		have[r.key()] = r
	}
	want := make(map[key]struct{}, len(desired))
	for _, r := range desired {
		want[r.key()] = struct{}{}
		switch old, ok := have[r.key()]; {
		case !ok:
			add = append(add, r)
		case old != r:
			change = append(change, r)
		}
	}
	for _, r := range current {
		if _, ok := want[r.key()]; !ok {
			remove = append(remove, r)
		}
	}
	return add, change, remove
}

// readManaged reads every relationship of the managed types, each type at
// one snapshot. The diff is per relationship, so a write landing between
// two types is simply seen by the next sync. With schemaMayLack (a dry run
// against an older or missing schema), a type SpiceDB does not know yet has
// no relationships.
func (c *Client) readManaged(ctx context.Context, schemaMayLack bool) ([]Relationship, error) {
	var out []Relationship
	for _, t := range managedTypes {
		rs, err := c.readType(ctx, t)
		if schemaMayLack && unknownType(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return dedupe(out), nil
}

func unknownType(err error) bool {
	c := status.Code(err)
	return c == codes.FailedPrecondition || c == codes.NotFound
}

// readType pages through the relationships whose resource is of type t.
// The first page is fully consistent; SpiceDB reads the later ones at the
// revision their cursor carries, so every page is the same snapshot.
func (c *Client) readType(ctx context.Context, t string) ([]Relationship, error) {
	var (
		out    []Relationship
		cursor *v1.Cursor
	)
	for {
		page, next, err := c.readPage(ctx, t, cursor)
		if err != nil {
			return nil, fmt.Errorf("spicedb read %s relationships: %w", t, err)
		}
		out = append(out, page...)
		if len(page) < readPageSize {
			return out, nil
		}
		cursor = next
	}
}

// readPage reads up to readPageSize relationships after cursor and returns
// the cursor after the last one.
func (c *Client) readPage(ctx context.Context, t string, cursor *v1.Cursor) ([]Relationship, *v1.Cursor, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the stream if we stop early
	defer cancel()
	stream, err := c.api.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
		Consistency:        fullyConsistent,
		RelationshipFilter: &v1.RelationshipFilter{ResourceType: t},
		OptionalLimit:      readPageSize,
		OptionalCursor:     cursor,
	})
	if err != nil {
		return nil, nil, err
	}
	var out []Relationship
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, cursor, nil
		}
		if err != nil {
			return nil, nil, err
		}
		r, err := fromProto(resp.GetRelationship())
		if err != nil {
			return nil, nil, err
		}
		out = append(out, r)
		cursor = resp.GetAfterResultCursor()
	}
}

// write applies d, removals first, in batches SpiceDB accepts, and returns
// the token of the last batch.
func (c *Client) write(ctx context.Context, d Diff) (string, error) {
	var updates []*v1.RelationshipUpdate
	add := func(op v1.RelationshipUpdate_Operation, rs []Relationship) error {
		for _, r := range rs {
			p, err := r.proto()
			if err != nil {
				return err
			}
			updates = append(updates, &v1.RelationshipUpdate{Operation: op, Relationship: p})
		}
		return nil
	}
	if err := add(v1.RelationshipUpdate_OPERATION_DELETE, d.Remove); err != nil {
		return "", err
	}
	if err := add(v1.RelationshipUpdate_OPERATION_TOUCH, d.Add); err != nil {
		return "", err
	}
	if err := add(v1.RelationshipUpdate_OPERATION_TOUCH, d.Change); err != nil {
		return "", err
	}
	var token string
	for len(updates) > 0 {
		n := min(len(updates), maxUpdatesPerWrite)
		resp, err := c.api.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates[:n]})
		if err != nil {
			return token, fmt.Errorf("spicedb write relationships: %w", err)
		}
		c.observe(resp.GetWrittenAt())
		token, updates = resp.GetWrittenAt().GetToken(), updates[n:]
	}
	return token, nil
}
