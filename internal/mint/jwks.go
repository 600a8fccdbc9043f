package mint

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// JWKSPath is where the admin API serves the ring's public keys.
const JWKSPath = "/.well-known/jwks.json"

// maxJWKSCacheAge caps how long an upstream may cache the JWKS.
const maxJWKSCacheAge = 5 * time.Minute

// JWKSHandler serves JWKS() as application/json. Its Cache-Control
// max-age is half the propagation delay (at most 5 minutes), so an
// upstream that honours it, even one that never refetches on an unknown
// kid, has a new key before the key signs anything.
func (r *KeyRing) JWKSHandler() http.Handler {
	maxAge := min(r.opts.PropagationDelay/2, maxJWKSCacheAge)
	cacheControl := "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.Marshal(r.JWKS())
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cacheControl)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if req.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
