package redact

import (
	"fmt"
	"strconv"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// Phone numbers are validated against libphonenumber's number plans
// (github.com/nyaruka/phonenumbers) by country calling code and national
// significant number, built from the digits directly: its Parse is ~20 µs
// of regex work per call, IsValidNumber a few µs, IsPossibleNumber ~0.2 µs.
// Validations per body are bounded (Config.MaxPhoneValidations).

type phoneRegion struct {
	cc   int32
	ndd  string // national (trunk) prefix, "" where there is none
	nanp bool
}

type phoneMatcher struct {
	regions []phoneRegion // one per calling code, in configured order
}

func newPhoneMatcher(codes []string) (*phoneMatcher, error) {
	m := &phoneMatcher{}
	seen := map[int32]bool{}
	for _, code := range codes {
		cc := int32(phonenumbers.GetCountryCodeForRegion(code))
		if cc == 0 {
			return nil, fmt.Errorf("phone region %q is not a region libphonenumber knows", code)
		}
		if seen[cc] {
			continue
		}
		seen[cc] = true
		m.regions = append(m.regions, phoneRegion{cc: cc, ndd: phonenumbers.GetNddPrefixForRegion(code, true), nanp: cc == 1})
	}
	// Load the metadata now rather than on the first request.
	phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: proto.Int32(1), NationalNumber: proto.Uint64(2015550123)})
	return m, nil
}

// phoneKey identifies one validation for the per-body cache.
type phoneKey struct {
	cc    int32
	nsn   uint64
	zeros int8
}

// phoneCandidate is the cheap part of phone detection: a whole number token
// of 7 to 17 digits, laid out like a phone number, ending cleanly. Shorter
// prefixes of a token are not tried: inside a longer digit sequence they
// validate by chance far too often.
func phoneCandidate(w *window, t *numToken) bool {
	if t.cut {
		return false
	}
	digits := 0
	for i := 0; i < t.n; i++ {
		digits += t.groupLen(i)
	}
	return digits >= 7 && digits <= 17 && phoneShaped(t, t.n-1) &&
		followsCleanly(w, phoneExtension(w, t.g[t.n-1][1]))
}

// evalPhone validates the number at p (a phoneCandidate).
func (s *scanner) evalPhone(w *window, p int) {
	t := scanNumber(w, p)
	cs := phoneStart(w, p)
	j := t.n - 1
	var buf [32]byte
	d := t.appendDigits(buf[:0], w, 0, j)
	lead, _ := w.at(cs)
	if rule, ok := s.validPhone(w, &t, j, d, lead); ok {
		s.addCand(cs, phoneExtension(w, t.g[j][1]), KindPhone, rule, s.p.action(KindPhone))
	}
}

// phoneShaped rejects layouts that are far more often something else:
// dates, IPv4 addresses and decimal numbers.
func phoneShaped(t *numToken, j int) bool {
	n := j + 1
	dot := false
	for i := 1; i < n; i++ {
		if t.sep[i] == '.' {
			dot = true
		}
	}
	if dot && n < 3 {
		return false // a decimal number
	}
	if n == 4 && dot {
		ip := true
		for i := 0; i < 4; i++ {
			ip = ip && t.groupLen(i) <= 3 && t.sep[max(i, 1)] == '.'
		}
		if ip {
			return false
		}
	}
	if n >= 3 && t.sepLen[1] == 1 && t.sepLen[2] == 1 && t.sep[1] == t.sep[2] {
		a, b, c := t.groupLen(0), t.groupLen(1), t.groupLen(2)
		if t.sep[1] != ' ' && ((a == 4 && b <= 2 && c <= 2) || (a <= 2 && b <= 2 && c == 4)) {
			return false // a date, perhaps followed by a time
		}
		if n == 3 && a == 3 && b == 2 && c == 4 {
			return false // the US SSN layout: left to the national ID detector
		}
	}
	return true
}

// phoneExtension extends a number over a trailing extension ("x123",
// " ext. 123"), which belongs to the redacted span.
func phoneExtension(w *window, end int) int {
	i := end
	if c, ok := w.at(i); ok && c == ' ' {
		i++
	}
	for _, marker := range []string{"extension", "ext.", "ext", "x", "#"} {
		if !hasFoldAt(w, i, marker) {
			continue
		}
		k := i + len(marker)
		if c, ok := w.at(k); ok && c == ' ' {
			k++
		}
		d := k
		for c, ok := w.at(d); ok && isDigit(c) && d-k < 6; c, ok = w.at(d) {
			d++
		}
		if d > k && followsCleanly(w, d) {
			return d
		}
		return end
	}
	return end
}

func hasFoldAt(w *window, i int, lit string) bool {
	for k := 0; k < len(lit); k++ {
		c, ok := w.at(i + k)
		if !ok || lowerASCII(c) != lit[k] {
			return false
		}
	}
	return true
}

// validPhone validates the digits of groups 0..j: internationally when
// written with + or an international prefix, else in the national format of
// each configured region.
func (s *scanner) validPhone(w *window, t *numToken, j int, d []byte, lead byte) (string, bool) {
	switch {
	case lead == '+':
		return s.validIntl(t.trunkZeroAfterCC(w, j, d))
	case len(d) >= 10 && d[0] == '0' && d[1] == '0':
		return s.validIntl(d[2:])
	case len(d) >= 11 && string(d[:3]) == "011":
		return s.validIntl(d[3:])
	}
	return s.validNational(d, lead == '(')
}

// trunkZeroAfterCC drops a "(0)" group written after the country code, as
// in +44 (0)20 7946 0958.
func (t *numToken) trunkZeroAfterCC(w *window, j int, d []byte) []byte {
	if j < 1 || t.groupLen(1) != 1 {
		return d
	}
	open, _ := w.at(t.g[1][0] - 1)
	zero, _ := w.at(t.g[1][0])
	closing, _ := w.at(t.g[1][1])
	if open != '(' || zero != '0' || closing != ')' {
		return d
	}
	cc := t.groupLen(0)
	return append(append([]byte(nil), d[:cc]...), d[cc+1:]...)
}

func (s *scanner) validIntl(d []byte) (string, bool) {
	for ccLen := 1; ccLen <= 3 && ccLen < len(d); ccLen++ {
		cc, _ := strconv.Atoi(string(d[:ccLen]))
		if phonenumbers.GetRegionCodeForCountryCode(cc) == phonenumbers.UNKNOWN_REGION {
			continue
		}
		return s.validate(int32(cc), d[ccLen:])
	}
	return "", false
}

// validNational tries each configured calling code. A national number must
// be written in national format: with the region's trunk prefix, or with
// the area code in parentheses (as in Brazil); NANP numbers have ten
// digits, or eleven with a leading 1. Without that rule, IDs, timestamps
// and other regions' numbers validate far too often.
func (s *scanner) validNational(d []byte, parenArea bool) (string, bool) {
	for _, r := range s.p.phone.regions {
		nsn := d
		switch {
		case r.nanp:
			if len(nsn) == 11 && nsn[0] == '1' {
				nsn = nsn[1:]
			}
			if len(nsn) != 10 {
				continue
			}
		case r.ndd != "" && len(nsn) > len(r.ndd) && string(nsn[:len(r.ndd)]) == r.ndd:
			nsn = nsn[len(r.ndd):]
		case r.ndd != "" && !parenArea:
			continue
		}
		if rule, ok := s.validate(r.cc, nsn); ok {
			return rule, true
		}
	}
	return "", false
}

// validate checks one number against the metadata, charging the body's
// validation allowance; past it, a plausible length is accepted unvalidated.
func (s *scanner) validate(cc int32, nsnDigits []byte) (string, bool) {
	if len(nsnDigits) < 4 || len(nsnDigits) > 14 {
		return "", false
	}
	zeros := 0
	for zeros < len(nsnDigits)-1 && nsnDigits[zeros] == '0' {
		zeros++
	}
	v, err := strconv.ParseUint(string(nsnDigits), 10, 64)
	if err != nil {
		return "", false
	}
	num := &phonenumbers.PhoneNumber{CountryCode: proto.Int32(cc), NationalNumber: proto.Uint64(v)}
	if zeros > 0 {
		num.ItalianLeadingZero = proto.Bool(true)
		num.NumberOfLeadingZeros = proto.Int32(int32(zeros))
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", false
	}
	key := phoneKey{cc: cc, nsn: v, zeros: int8(zeros)}
	if ok, seen := s.bud.phoneCache[key]; seen {
		return "libphonenumber", ok
	}
	if s.bud.phoneLeft <= 0 {
		return "phone-unvalidated", len(nsnDigits) >= 7
	}
	s.bud.phoneLeft--
	ok := phonenumbers.IsValidNumber(num)
	s.bud.phoneCache[key] = ok
	return "libphonenumber", ok
}
