package policy

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memoLimit bounds the results kept for one second.
const memoLimit = 10_000

// Memo reuses an Engine's result for an identical input within the same
// second. Evaluation is a pure function of the input document and the
// bundle (time.now_ns returns Input.Time), and Input.Time is truncated to
// whole seconds here, so a reused result is exactly the result evaluation
// would return: the decision time recorded is the truncated one.
type Memo struct {
	e   *Engine
	gen atomic.Pointer[memoGen]
}

type memoGen struct {
	second int64
	m      sync.Map // key → Result
	size   atomic.Int64
}

// NewMemo wraps e.
func NewMemo(e *Engine) *Memo {
	m := &Memo{e: e}
	m.gen.Store(&memoGen{})
	return m
}

// Revision is the wrapped engine's revision.
func (m *Memo) Revision() string { return m.e.Revision() }

// Evaluate returns the memoized result of e.Evaluate for in, with in.Time
// truncated to the second. Errors are never memoized.
func (m *Memo) Evaluate(ctx context.Context, in Input) (Result, error) {
	in.Time = in.Time.Truncate(time.Second)
	sec := in.Time.Unix()
	g := m.gen.Load()
	if g.second != sec {
		// A new second: earlier entries can never match again.
		ng := &memoGen{second: sec}
		if m.gen.CompareAndSwap(g, ng) {
			g = ng
		} else {
			g = m.gen.Load()
		}
	}
	key := memoKey(in)
	if g.second == sec {
		if r, ok := g.m.Load(key); ok {
			return r.(Result), nil
		}
	}
	r, err := m.e.Evaluate(ctx, in)
	if err == nil && g.second == sec && g.size.Add(1) <= memoLimit {
		g.m.Store(key, r)
	}
	return r, err
}

// Key identifies what Document renders apart from the time: two inputs of
// the same second with the same key render the same document (Memo relies
// on it; so can a cache of anything derived from the document).
func (in Input) Key() string { return memoKey(in) }

// memoKey covers every field Input.Document renders. Registry entries are
// identified by id plus the registry version (an entry cannot change
// without the version changing). Strings are length-prefixed so no two
// inputs share a key.
func memoKey(in Input) string {
	var b strings.Builder
	var n [binary.MaxVarintLen64]byte
	put := func(s string) {
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		b.WriteString(s)
	}
	p := in.Principal
	put(in.RegistryVersion)
	put(p.Issuer)
	put(p.User)
	put(p.Agent)
	put(p.Tenant)
	put(p.Task)
	for _, g := range p.Groups {
		put("g:" + g)
	}
	for _, a := range p.Chain {
		put("a:" + a.Subject + "\x00" + a.Issuer)
	}
	if in.Agent != nil {
		put("agent:" + in.Agent.ID)
	}
	if in.Server != nil {
		put("server:" + in.Server.ID)
	}
	if in.Tool != nil {
		put("tool:" + in.Tool.Name)
	}
	put(in.Call.Method)
	put(string(in.Call.Arguments))
	return b.String()
}
