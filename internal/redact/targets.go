package redact

import (
	"fmt"
	"strings"
)

// DefaultTargets are the places in an MCP JSON-RPC message that carry tool
// or server output to the agent. A path is dot-separated member names; "[]"
// after a name walks every element of that array, which is also the
// "content item" a drop action removes; a final "**" covers every string
// and number below. Names match case-insensitively (as Go's encoding/json
// does), and every duplicate of a member is covered.
var DefaultTargets = []string{
	"result.content[].text",          // tools/call text content
	"result.content[].resource.text", // embedded text resources
	"result.structuredContent.**",    // tools/call structured output
	"result.contents[].text",         // resources/read
	"error.message",
	"error.data.**",
	"params.data.**", // notifications/message (server logging)
	"params.message", // notifications/progress
}

// tnode is one level of the compiled targets.
type tnode struct {
	keys  []tchild
	leaf  bool   // the value here is redacted (string or number)
	deep  bool   // every string and number below is redacted
	items *tnode // the value is an array whose elements continue at items
}

type tchild struct {
	key  string
	node *tnode
}

func parseTargets(paths []string) (*tnode, error) {
	root := &tnode{}
	for _, p := range paths {
		if err := root.add(p); err != nil {
			return nil, fmt.Errorf("target %q: %w", p, err)
		}
	}
	return root, nil
}

func (n *tnode) add(path string) error {
	segs := strings.Split(path, ".")
	cur := n
	for i, seg := range segs {
		last := i == len(segs)-1
		if seg == "**" {
			if !last {
				return fmt.Errorf("** must be last")
			}
			cur.deep = true
			return nil
		}
		each := strings.HasSuffix(seg, "[]")
		key := strings.TrimSuffix(seg, "[]")
		if key == "" || strings.ContainsAny(key, "[]*") {
			return fmt.Errorf("bad segment %q", seg)
		}
		cur = cur.child(key)
		if each {
			if cur.items == nil {
				cur.items = &tnode{}
			}
			cur = cur.items
		}
		if last {
			cur.leaf = true
		}
	}
	return nil
}

func (n *tnode) child(key string) *tnode {
	for _, c := range n.keys {
		if strings.EqualFold(c.key, key) {
			return c.node
		}
	}
	c := &tnode{}
	n.keys = append(n.keys, tchild{key: key, node: c})
	return c
}

// member finds the child for a decoded member name.
func (n *tnode) member(name string) (string, *tnode) {
	for _, c := range n.keys {
		if strings.EqualFold(c.key, name) {
			return c.key, c.node
		}
	}
	return "", nil
}
