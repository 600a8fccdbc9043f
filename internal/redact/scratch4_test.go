package redact

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

func TestScratchPerRule2(t *testing.T) {
	d, _ := detectDefault()
	text := stuffedAll(d)
	p := defaultPolicy(t)
	s := newScanner(p, &budget{base: 1 << 40, phoneCache: map[phoneKey]bool{}})
	s.write(text, true) // decide prefilters
	s2 := newScanner(p, &budget{base: 1 << 40, phoneCache: map[phoneKey]bool{}})
	s2.eof = true
	s2.buf = text
	times := map[string]time.Duration{}
	counts := map[string]int{}
	sl := map[string]int{}
	// re-run discovery without evaluation
	s2.discover()
	for _, a := range s2.queue {
		if a.typ != anchorSecret || a.state != anchorAdmitted {
			continue
		}
		r := p.rules.rules[a.id]
		ws, we := max(a.ws, 0), min(a.we, len(text))
		w := window{text: text[ws:we], off: ws, bot: a.ws <= 0, eot: we == len(text)}
		st := time.Now()
		if r.mode == modeAnchored {
			s2.matchAnchored(r, a.pos, &w)
		} else {
			r.re.FindAllSubmatchIndex(w.text, -1)
		}
		times[r.id] += time.Since(st)
		counts[r.id]++
		sl[r.id] += len(w.text)
	}
	var ids []string
	for k := range times {
		ids = append(ids, k)
	}
	sort.Slice(ids, func(i, j int) bool { return times[ids[i]] > times[ids[j]] })
	for _, id := range ids[:min(12, len(ids))] {
		fmt.Println(id, times[id], counts[id], sl[id]/counts[id])
	}
}
