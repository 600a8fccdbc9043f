package identity

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"testing"

	"github.com/actiongate/actiongate/internal/principal"
)

func key(i int) [32]byte { return sha256.Sum256([]byte(strconv.Itoa(i))) }

func TestTokenCache_BoundedAndPrefersExpired(t *testing.T) {
	t.Parallel()
	c := newTokenCache(4)
	const now = int64(1000)
	for i := range 4 {
		k := key(i)
		exp := now + 100
		if i == 2 {
			exp = now + 1 // expires first
		}
		c.put(&k, principal.Principal{User: strconv.Itoa(i)}, exp, now, c.gen.Load())
	}
	for i := range 4 {
		k := key(i)
		if _, ok := c.get(&k, now); !ok {
			t.Fatalf("entry %d missing before eviction", i)
		}
	}
	k := key(10)
	c.put(&k, principal.Principal{User: "10"}, now+200, now+50, c.gen.Load())
	if n := c.len(); n != 4 {
		t.Errorf("len = %d, want the bound 4", n)
	}
	for _, i := range []int{0, 1, 3, 10} {
		k := key(i)
		if _, ok := c.get(&k, now+50); !ok {
			t.Errorf("entry %d evicted; the expired entry 2 should have gone", i)
		}
	}
	for i := 20; i < 100; i++ {
		k := key(i)
		c.put(&k, principal.Principal{}, now+1000, now+50, c.gen.Load())
	}
	if n := c.len(); n != 4 {
		t.Errorf("len after many inserts = %d, want 4", n)
	}
}

func TestTokenCache_SecondChance(t *testing.T) {
	t.Parallel()
	c := newTokenCache(2)
	hot, cold, fresh := key(1), key(2), key(3)
	c.put(&hot, principal.Principal{User: "hot"}, 100, 0, 0)
	c.put(&cold, principal.Principal{User: "cold"}, 100, 0, 0)
	c.get(&hot, 1) // referenced since the last sweep
	c.put(&fresh, principal.Principal{User: "fresh"}, 100, 1, 0)
	if _, ok := c.get(&hot, 1); !ok {
		t.Error("recently used entry was evicted")
	}
	if _, ok := c.get(&cold, 1); ok {
		t.Error("unused entry survived")
	}
}

func TestTokenCache_PutAfterInvalidateIsDropped(t *testing.T) {
	t.Parallel()
	c := newTokenCache(10)
	k := key(1)
	gen := c.gen.Load() // a verification starts…
	c.invalidate(func(principal.Principal) bool { return true })
	c.put(&k, principal.Principal{User: "revoked"}, 100, 0, gen) // …and finishes after an Invalidate
	if _, ok := c.get(&k, 1); ok {
		t.Error("a verification that raced with Invalidate was cached")
	}
}

func TestTokenCache_Concurrent(t *testing.T) {
	t.Parallel()
	c := newTokenCache(2048)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				k := key(w*10000 + i%500)
				c.put(&k, principal.Principal{User: strconv.Itoa(i % 7)}, 1000, 0, c.gen.Load())
				c.get(&k, 1)
				if i%400 == 0 {
					c.invalidate(func(p principal.Principal) bool { return p.User == "3" })
				}
			}
		})
	}
	wg.Wait()
	if n := c.len(); n > 2048 {
		t.Errorf("len = %d over the bound", n)
	}
}
