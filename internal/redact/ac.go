package redact

import "fmt"

// automaton is an Aho-Corasick automaton compiled to a dense DFA over byte
// classes, so the scan is one table lookup per input byte and carries a
// single state across chunk boundaries. With fold set, ASCII letters match
// either case (gitleaks lowercases text before its keyword prefilter).
type automaton struct {
	class  [256]uint16
	nclass int
	// next[row+class] is the next state's row (state*nclass) shifted left
	// once, with the low bit set when that state has outputs: one load per
	// input byte, no multiply, no second table.
	next    []uint32
	outs    [][]int32
	hasOut  []bool
	lens    []int // pattern id -> length in bytes
	maxLen  int
	nstates int
}

// maxStates bounds the automaton; the gitleaks keyword set needs ~2,000.
const maxStates = 1 << 20

// newAutomaton builds the automaton for patterns (ids are their indexes).
func newAutomaton(patterns []string, fold bool) (*automaton, error) {
	a := &automaton{lens: make([]int, len(patterns))}
	a.buildClasses(patterns, fold)
	goTo := [][]int32{make([]int32, a.nclass)}
	outs := [][]int32{nil}
	for id, p := range patterns {
		if p == "" {
			return nil, fmt.Errorf("empty pattern %d", id)
		}
		a.lens[id] = len(p)
		a.maxLen = max(a.maxLen, len(p))
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			if goTo[s][c] == 0 {
				if len(goTo) >= maxStates {
					return nil, fmt.Errorf("keyword automaton exceeds %d states", maxStates)
				}
				goTo = append(goTo, make([]int32, a.nclass))
				outs = append(outs, nil)
				goTo[s][c] = int32(len(goTo) - 1)
			}
			s = goTo[s][c]
		}
		outs[s] = append(outs[s], int32(id))
	}
	a.link(goTo, outs)
	return a, nil
}

// buildClasses gives every byte that occurs in a pattern its own class (with
// fold, upper- and lowercase letters share one); all other bytes share class
// 0, which never continues a pattern.
func (a *automaton) buildClasses(patterns []string, fold bool) {
	n := 1
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			c := p[i]
			if fold {
				c = lowerASCII(c)
			}
			if a.class[c] == 0 {
				a.class[c] = uint16(n)
				n++
			}
		}
	}
	if fold {
		for c := 'A'; c <= 'Z'; c++ {
			a.class[c] = a.class[c+'a'-'A']
		}
	}
	a.nclass = n
}

// link computes failure transitions breadth-first and fills the dense table.
func (a *automaton) link(goTo [][]int32, outs [][]int32) {
	n := len(goTo)
	fail := make([]int32, n)
	a.next = make([]uint32, n*a.nclass)
	a.outs = make([][]int32, n)
	a.hasOut = make([]bool, n)
	queue := make([]int32, 0, n)
	for c := 0; c < a.nclass; c++ {
		if s := goTo[0][c]; s != 0 {
			queue = append(queue, s)
		}
		a.next[c] = uint32(goTo[0][c])
	}
	a.outs[0] = outs[0]
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		a.outs[s] = append(append([]int32(nil), outs[s]...), a.outs[fail[s]]...)
		a.hasOut[s] = len(a.outs[s]) > 0
		for c := 0; c < a.nclass; c++ {
			t := goTo[s][c]
			if t == 0 {
				a.next[int(s)*a.nclass+c] = a.next[int(fail[s])*a.nclass+c]
				continue
			}
			fail[t] = int32(a.next[int(fail[s])*a.nclass+c])
			a.next[int(s)*a.nclass+c] = uint32(t)
			queue = append(queue, t)
		}
	}
	a.nstates = n
	if uint64(n)*uint64(a.nclass) >= 1<<31 {
		panic("automaton too large") // unreachable: maxStates bounds it
	}
	for i, t := range a.next {
		flag := uint32(0)
		if a.hasOut[t] {
			flag = 1
		}
		a.next[i] = t*uint32(a.nclass)<<1 | flag
	}
}

// scan feeds text to the automaton from state (a row, 0 to start) and
// calls hit with the pattern id and the index in text just past its last
// byte. It returns the state to resume from with the next chunk.
func (a *automaton) scan(state uint32, text []byte, hit func(id int32, end int)) uint32 {
	next, class, nc := a.next, &a.class, uint32(a.nclass)
	for i, c := range text {
		e := next[state+uint32(class[c])]
		state = e >> 1
		if e&1 != 0 {
			for _, id := range a.outs[state/nc] {
				hit(id, i+1)
			}
		}
	}
	return state
}

// contains reports whether any pattern occurs in b.
func (a *automaton) contains(b []byte) bool {
	state, next, class := uint32(0), a.next, &a.class
	for _, c := range b {
		e := next[state+uint32(class[c])]
		if e&1 != 0 {
			return true
		}
		state = e >> 1
	}
	return false
}
