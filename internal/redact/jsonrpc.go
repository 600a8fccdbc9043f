package redact

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"github.com/actiongate/actiongate/internal/mcp"
)

// ErrNotJSON: the body is not a JSON text, so its structure cannot be
// redacted. Callers should redact it as plain text (RedactText) or refuse it.
var ErrNotJSON = errors.New("body is not valid JSON")

// Result is the outcome of redacting one JSON-RPC message (or batch).
type Result struct {
	// Body is the message to forward: the input itself when nothing
	// changed, nil when Blocked. Set Content-Length from it.
	Body     []byte
	Findings []Finding
	Changed  bool
	// Dropped counts content items removed by drop actions.
	Dropped int
	// Exhausted: the secret budget ran out and OnExhausted=report let the
	// rest through unsearched for secrets.
	Exhausted bool
	// Blocked: the message must not be forwarded; answer with an MCP
	// error instead (BlockedBody).
	Blocked *BlockedError
}

// BlockedBody is the JSON-RPC error that replaces a blocked result: code
// CodePolicyDenied, with the reason and the kind of finding (never the
// value) in error.data. id is the request id as on the wire.
func BlockedBody(id json.RawMessage, decisionID string, b *BlockedError) []byte {
	return mcp.ErrorBody(id, mcp.CodePolicyDenied, "tool result withheld by output policy",
		&mcp.ErrorData{Reason: b.Reason, DecisionID: decisionID, Detail: string(b.Kind)})
}

// RedactJSONRPC redacts the tool output in one JSON-RPC message under p and
// returns the body to forward and what was found. A result the policy
// blocks (a block action, or the budget with OnExhausted=block) returns a
// *BlockedError (errors.Is ErrBlocked) and no body; a body that is not JSON
// returns ErrNotJSON. Use (*Policy).RedactMessage for the full Result.
func RedactJSONRPC(body []byte, p *Policy) ([]byte, []Finding, error) {
	r, err := p.RedactMessage(body)
	if err != nil {
		return nil, nil, err
	}
	if r.Blocked != nil {
		return nil, r.Findings, r.Blocked
	}
	return r.Body, r.Findings, nil
}

// RedactMessage redacts the strings at the policy's targets: each is decoded
// (so a secret split by escapes such as \u0041 is seen whole), redacted, and
// re-encoded only if it changed; everything else is copied byte for byte.
func (p *Policy) RedactMessage(body []byte) (Result, error) {
	if !json.Valid(body) {
		return Result{}, ErrNotJSON
	}
	j := &jsonWalker{p: p, bud: newBudget(p), in: body, out: make([]byte, 0, len(body)+64)}
	pos := skipWS(body, 0)
	j.out = append(j.out, body[:pos]...)
	var end int
	var err error
	if body[pos] == '[' {
		end, err = j.batch(pos)
	} else {
		end, _, err = j.value(pos, p.targets, "", false)
	}
	res := Result{Findings: j.findings, Dropped: j.dropped, Exhausted: j.exhausted}
	var blocked *BlockedError
	switch {
	case errors.As(err, &blocked):
		res.Blocked = blocked
		return res, nil
	case err != nil:
		return Result{}, err
	}
	if !j.changed {
		res.Body = body
		return res, nil
	}
	res.Body, res.Changed = append(j.out, body[end:]...), true
	return res, nil
}

// batch walks a JSON-RPC batch: every element is a message of its own.
func (j *jsonWalker) batch(pos int) (int, error) {
	j.out = append(j.out, '[')
	i := pos + 1
	for idx := 0; ; {
		ws := skipWS(j.in, i)
		j.out = append(j.out, j.in[i:ws]...)
		i = ws
		switch j.in[i] {
		case ']':
			j.out = append(j.out, ']')
			return i + 1, nil
		case ',':
			j.out = append(j.out, ',')
			i++
			continue
		}
		end, _, err := j.value(i, j.p.targets, "["+strconv.Itoa(idx)+"]", false)
		if err != nil {
			return 0, err
		}
		i, idx = end, idx+1
	}
}

// jsonWalker copies a validated JSON text to out, descending only where a
// target leads and rewriting the values the targets name.
type jsonWalker struct {
	p         *Policy
	bud       *budget
	in, out   []byte
	findings  []Finding
	changed   bool
	exhausted bool
	dropped   int
}

// value copies the value at pos (walked under n) and returns its end and
// whether a finding asked to drop the content item holding it.
func (j *jsonWalker) value(pos int, n *tnode, path string, inItem bool) (int, bool, error) {
	if n == nil {
		end := skipValue(j.in, pos)
		j.out = append(j.out, j.in[pos:end]...)
		return end, false, nil
	}
	switch c := j.in[pos]; {
	case c == '{':
		return j.object(pos, n, path, inItem)
	case c == '[':
		return j.array(pos, n, path, inItem)
	case c == '"' && (n.leaf || n.deep):
		end := skipString(j.in, pos)
		drop, err := j.leaf(j.in[pos:end], unescape(j.in[pos+1:end-1]), path, inItem)
		return end, drop, err
	case (c == '-' || isDigit(c)) && (n.leaf || n.deep):
		end := skipValue(j.in, pos)
		drop, err := j.leaf(j.in[pos:end], j.in[pos:end], path, inItem)
		return end, drop, err
	}
	end := skipValue(j.in, pos)
	j.out = append(j.out, j.in[pos:end]...)
	return end, false, nil
}

func (j *jsonWalker) object(pos int, n *tnode, path string, inItem bool) (int, bool, error) {
	j.out = append(j.out, '{')
	i, dropAny := pos+1, false
	for {
		ws := skipWS(j.in, i)
		j.out = append(j.out, j.in[i:ws]...)
		i = ws
		if j.in[i] == '}' {
			j.out = append(j.out, '}')
			return i + 1, dropAny, nil
		}
		if j.in[i] == ',' {
			j.out = append(j.out, ',')
			i++
			continue
		}
		keyEnd := skipString(j.in, i)
		colon := skipWS(j.in, keyEnd)
		vStart := skipWS(j.in, colon+1)
		name := string(unescape(j.in[i+1 : keyEnd-1]))
		child := (*tnode)(nil)
		label := name
		if n.deep {
			// Below "**" member names are data too: they are redacted like
			// values, and only the redacted form appears in paths.
			var err error
			if label, err = j.key(j.in[i:keyEnd], name, path); err != nil {
				return 0, false, err
			}
			j.out = append(j.out, j.in[keyEnd:vStart]...)
			child = n
		} else {
			j.out = append(j.out, j.in[i:vStart]...)
			if canon, c := n.member(name); c != nil {
				child, label = c, canon
			}
		}
		end, drop, err := j.value(vStart, child, joinPath(path, label), inItem)
		if err != nil {
			return 0, false, err
		}
		dropAny = dropAny || drop
		i = end
	}
}

func joinPath(path, key string) string {
	if len(key) > 64 {
		key = key[:64]
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// array walks each element under n.items (or n itself when deep). The
// elements of a targeted array are content items: one that asks to be
// dropped is left out, and the array is rewritten compactly.
func (j *jsonWalker) array(pos int, n *tnode, path string, inItem bool) (int, bool, error) {
	elem, items := n.items, n.items != nil
	if n.deep {
		elem, items = n, false
	}
	mark := len(j.out)
	j.out = append(j.out, '[')
	var spans [][2]int // element bytes in out
	var dropped []bool
	i, dropAny := pos+1, false
	for idx := 0; ; {
		ws := skipWS(j.in, i)
		j.out = append(j.out, j.in[i:ws]...)
		i = ws
		switch j.in[i] {
		case ']':
			j.out = append(j.out, ']')
			if items && slices.Contains(dropped, true) {
				j.rewriteArray(mark, spans, dropped)
			}
			return i + 1, dropAny, nil
		case ',':
			j.out = append(j.out, ',')
			i++
			continue
		}
		start := len(j.out)
		end, drop, err := j.value(i, elem, path+"["+strconv.Itoa(idx)+"]", inItem || items)
		if err != nil {
			return 0, false, err
		}
		spans, dropped = append(spans, [2]int{start, len(j.out)}), append(dropped, items && drop)
		dropAny = dropAny || (drop && !items)
		i, idx = end, idx+1
	}
}

// rewriteArray replaces the array written from mark with its kept elements.
func (j *jsonWalker) rewriteArray(mark int, spans [][2]int, dropped []bool) {
	kept := []byte{'['}
	for k, sp := range spans {
		if dropped[k] {
			j.dropped++
			continue
		}
		if len(kept) > 1 {
			kept = append(kept, ',')
		}
		kept = append(kept, j.out[sp[0]:sp[1]]...)
	}
	if len(kept) == 1 {
		kept = append(kept, `{"type":"text","text":"[REDACTED] content removed by output policy"}`...)
	}
	j.out = append(append(j.out[:mark], kept...), ']')
	j.changed = true
}

// leaf redacts one string (decoded) or number and writes the result.
func (j *jsonWalker) leaf(raw, text []byte, path string, inItem bool) (bool, error) {
	r := j.redact(text, path)
	if r.Blocked != nil {
		return false, r.Blocked
	}
	if r.Drop && !inItem {
		j.out = appendJSONString(j.out, []byte(maskText(dropKind(r.Findings))))
		j.changed = true
		return false, nil
	}
	if string(r.Text) == string(text) {
		j.out = append(j.out, raw...)
		return r.Drop, nil
	}
	j.out = appendJSONString(j.out, r.Text)
	j.changed = true
	return r.Drop, nil
}

// key redacts a member name below a "**" target and writes it.
func (j *jsonWalker) key(raw []byte, name, path string) (string, error) {
	r := j.redact([]byte(name), path+".{key}")
	if r.Blocked != nil {
		return "", r.Blocked
	}
	if string(r.Text) == name {
		j.out = append(j.out, raw...)
		return name, nil
	}
	j.out = appendJSONString(j.out, r.Text)
	j.changed = true
	return string(r.Text), nil
}

// redact runs one text of the body through the policy, on the body's
// budget, and collects its findings under path.
func (j *jsonWalker) redact(text []byte, path string) TextResult {
	s := newScanner(j.p, j.bud)
	s.writeAll(text)
	r := s.result()
	j.bud.prior += len(text)
	for _, f := range r.Findings {
		f.Path = path
		j.findings = append(j.findings, f)
	}
	j.exhausted = j.exhausted || r.Exhausted
	if r.Blocked != nil {
		b := *r.Blocked
		b.Path = path
		r.Blocked = &b
	}
	return r
}

func dropKind(fs []Finding) Kind {
	for _, f := range fs {
		if f.Action == ActionDrop {
			return f.Kind
		}
	}
	return KindSecret
}
