package standin

import (
	"math/rand/v2"
	"sync"
)

// SplitEveryByte is a ChunkSplitter that sends every byte as its own
// STREAMED chunk: the harshest boundary test for a processor that must
// reassemble SSE events, CRLFs and UTF-8 sequences across chunks.
func SplitEveryByte(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// RandomSplitter returns a ChunkSplitter that cuts each chunk at random
// points (reproducible for a given seed).
func RandomSplitter(seed uint64) func([]byte) [][]byte {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(b []byte) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		var out [][]byte
		for len(b) > 0 {
			n := 1 + rng.IntN(min(len(b), 64))
			out = append(out, b[:n])
			b = b[n:]
		}
		return out
	}
}
