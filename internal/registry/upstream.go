package registry

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is a server's upstream URL taken apart, in the form an Envoy
// cluster and route need.
type Endpoint struct {
	Scheme string // "http" or "https"
	Host   string // host name or IP, without brackets
	Port   uint32 // explicit, or 80/443 by scheme
	Path   string // escaped path, "/" when the URL has none
}

// TLS reports whether the upstream is reached over TLS.
func (e Endpoint) TLS() bool { return e.Scheme == "https" }

// Endpoint parses the server's upstream URL. It cannot fail for a server
// returned by Load, which validated it.
func (s *Server) Endpoint() (Endpoint, error) { return parseUpstream(s.Upstream) }

// parseUpstream accepts only absolute http(s) URLs with a host and nothing
// that would make two components read the target differently: no user
// info (credentials are brokered, never registered), query, fragment or
// dot segments. Errors never repeat the URL, which may hold a secret.
func parseUpstream(raw string) (Endpoint, error) {
	if raw != strings.TrimSpace(raw) {
		return Endpoint{}, errors.New("must not have leading or trailing spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, errors.New("is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return Endpoint{}, errors.New("must be an absolute http:// or https:// URL")
	case u.Opaque != "" || u.Host == "":
		return Endpoint{}, errors.New("must name a host (http://host:port/path)")
	case u.User != nil:
		return Endpoint{}, errors.New("must not contain user info; upstream credentials are brokered, not registered")
	case u.RawQuery != "" || u.ForceQuery:
		return Endpoint{}, errors.New("must not have a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return Endpoint{}, errors.New("must not have a fragment")
	case u.Hostname() == "":
		return Endpoint{}, errors.New("must name a host (http://host:port/path)")
	}
	port, err := upstreamPort(u)
	if err != nil {
		return Endpoint{}, err
	}
	path := u.EscapedPath()
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return Endpoint{}, errors.New("must not have . or .. path segments")
		}
	}
	if path == "" {
		path = "/"
	}
	return Endpoint{Scheme: u.Scheme, Host: u.Hostname(), Port: port, Path: path}, nil
}

func upstreamPort(u *url.URL) (uint32, error) {
	p := u.Port()
	if p == "" {
		if strings.HasSuffix(u.Host, ":") {
			return 0, errors.New("has an empty port")
		}
		if u.Scheme == "https" {
			return 443, nil
		}
		return 80, nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, errors.New("has a port outside 1-65535")
	}
	return uint32(n), nil
}
