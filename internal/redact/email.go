package redact

import (
	"sync"
	"sync/atomic"

	"golang.org/x/net/publicsuffix"
)

// Email addresses are recognised at '@' and validated structurally, not by
// a bare pattern: a dot-atom local part of at most 64 bytes (the common
// character set, no leading, trailing or doubled dot), a domain of at most
// 253 bytes in labels of 1..63 letters, digits and inner hyphens, at least
// two labels, and a top-level domain ICANN manages (public suffix list).
// Internationalised addresses in Unicode are not recognised.

func isLocalByte(c byte) bool {
	return isDigit(c) || isAlpha(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainByte(c byte) bool { return isDigit(c) || isAlpha(c) || c == '.' || c == '-' }

func (s *scanner) evalEmail(w *window, at int) {
	start := at
	for {
		c, ok := w.at(start - 1)
		if !ok || !isLocalByte(c) {
			if !ok && !w.bot {
				return // the local part runs past the window: longer than 64
			}
			break
		}
		start--
		if at-start > 64 {
			return
		}
	}
	for start < at {
		if c, _ := w.at(start); c != '.' {
			break
		}
		start++
	}
	local := w.text[start-w.off : at-w.off]
	if len(local) == 0 || local[len(local)-1] == '.' || containsDoubleDot(local) {
		return
	}
	end, ok := emailDomainEnd(w, at+1)
	if !ok {
		return
	}
	s.addCand(start, end, KindEmail, "rfc5321", s.p.action(KindEmail))
}

// emailDomainEnd validates the domain starting at from and returns its end.
func emailDomainEnd(w *window, from int) (int, bool) {
	end := from
	for c, ok := w.at(end); ok && isDomainByte(c); c, ok = w.at(end) {
		end++
	}
	if _, ok := w.at(end); !ok && !w.eot {
		return 0, false // runs past the window: longer than any domain
	}
	for end > from { // sentence punctuation after the address
		if c, _ := w.at(end - 1); c != '.' && c != '-' {
			break
		}
		end--
	}
	domain := w.text[from-w.off : end-w.off]
	if len(domain) == 0 || len(domain) > 253 {
		return 0, false
	}
	labels, labelStart := 0, 0
	for i := 0; i <= len(domain); i++ {
		if i < len(domain) && domain[i] != '.' {
			continue
		}
		l := domain[labelStart:i]
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return 0, false
		}
		labels, labelStart = labels+1, i+1
	}
	tld := domain[bytesLastIndexByte(domain, '.')+1:]
	if labels < 2 || !validTLD(tld) {
		return 0, false
	}
	return end, true
}

func validTLD(tld []byte) bool {
	if len(tld) < 2 || len(tld) > 63 {
		return false
	}
	var buf [63]byte
	low := buf[:len(tld)]
	for i, c := range tld {
		if isDigit(c) && !(len(tld) > 4 && string(tld[:4]) == "xn--") {
			return false
		}
		low[i] = lowerASCII(c)
	}
	switch string(low) { // the common ones, without the lookup
	case "com", "org", "net", "edu", "gov", "io", "de", "uk", "fr", "us":
		return true
	}
	if ok, seen := tldCache.Load(string(low)); seen {
		return ok.(bool)
	}
	suffix, icann := publicsuffix.PublicSuffix(string(low))
	ok := icann && suffix == string(low)
	if tldCacheSize.Add(1) <= maxTLDCache { // bounded: text can invent TLDs
		tldCache.Store(string(low), ok)
	}
	return ok
}

// tldCache remembers public-suffix lookups (each costs an IP-address parse
// attempt and allocations); there are about 1,500 ICANN TLDs.
var (
	tldCache     sync.Map
	tldCacheSize atomic.Int64
)

const maxTLDCache = 4096

func containsDoubleDot(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i] == '.' && b[i-1] == '.' {
			return true
		}
	}
	return false
}

func bytesLastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}
