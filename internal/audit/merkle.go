package audit

import (
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for rfc6962.New
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hasher is RFC 6962 with SHA-256: leaf = H(0x00 || event), node = H(0x01 || l || r).
var hasher = rfc6962.New(crypto.SHA256)

// rangeFactory builds compact ranges with the same node hash.
var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// LeafHash is the RFC 6962 leaf hash of an event's canonical bytes. It is
// both the event's hash in the chain (the next event's PrevHash) and its
// leaf in the Merkle log.
func LeafHash(canonical []byte) []byte { return hasher.HashLeaf(canonical) }

// Tree is a whole Merkle log kept in memory: every perfect subtree's hash, so
// roots at any earlier size and inclusion and consistency proofs come
// without rehashing leaves. The verifier builds one per instance; 64 bytes
// per leaf.
type Tree struct {
	levels [][][]byte // levels[l][i] = hash of node (l, i)
	rng    *compact.Range
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{rng: rangeFactory.NewEmptyRange(0)} }

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.rng.End() }

// Append adds the next leaf hash.
func (t *Tree) Append(leafHash []byte) {
	// The visitor reports nodes in creation order, so each level only grows
	// at its end.
	_ = t.rng.Append(leafHash, func(id compact.NodeID, h []byte) {
		for uint(len(t.levels)) <= id.Level {
			t.levels = append(t.levels, nil)
		}
		t.levels[id.Level] = append(t.levels[id.Level], h)
	})
}

func (t *Tree) node(id compact.NodeID) ([]byte, error) {
	if id.Level >= uint(len(t.levels)) || id.Index >= uint64(len(t.levels[id.Level])) {
		return nil, fmt.Errorf("merkle node %d/%d not in a tree of size %d", id.Level, id.Index, t.Size())
	}
	return t.levels[id.Level][id.Index], nil
}

func (t *Tree) nodes(ids []compact.NodeID) ([][]byte, error) {
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// Root is the tree head at size (≤ Size()).
func (t *Tree) Root(size uint64) ([]byte, error) {
	if size > t.Size() {
		return nil, fmt.Errorf("root at size %d of a tree of size %d", size, t.Size())
	}
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	hs, err := t.nodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, size, hs)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// InclusionProof proves leaf index is in the tree of the given size.
func (t *Tree) InclusionProof(index, size uint64) ([][]byte, error) {
	if size > t.Size() {
		return nil, fmt.Errorf("inclusion proof at size %d of a tree of size %d", size, t.Size())
	}
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.rehash(n)
}

// ConsistencyProof proves the tree at size1 is a prefix of the tree at size2.
func (t *Tree) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if size2 > t.Size() {
		return nil, fmt.Errorf("consistency proof to size %d of a tree of size %d", size2, t.Size())
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.rehash(n)
}

func (t *Tree) rehash(n proof.Nodes) ([][]byte, error) {
	hs, err := t.nodes(n.IDs)
	if err != nil {
		return nil, err
	}
	return n.Rehash(hs, hasher.HashChildren)
}

// VerifyConsistency checks an RFC 6962 consistency proof between two roots.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(hasher, size1, size2, p, root1, root2)
}

// rangeState is a compact range's serializable form: the spool keeps it in
// every segment header so a segment alone restores the running root.
type rangeState struct {
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"`
}

func stateOf(r *compact.Range) rangeState {
	hs := make([][]byte, len(r.Hashes()))
	copy(hs, r.Hashes())
	return rangeState{Size: r.End(), Hashes: hs}
}

func (s rangeState) restore() (*compact.Range, error) {
	r, err := rangeFactory.NewRange(0, s.Size, s.Hashes)
	if err != nil {
		return nil, fmt.Errorf("merkle state of size %d: %w", s.Size, err)
	}
	return r, nil
}
