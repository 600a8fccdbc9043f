package redact

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// NationalID configures one national identifier. Name alone selects a
// built-in ("US_SSN"); with Pattern it defines a custom one: a regular
// expression matched around the first digit of a number (the match must
// contain it, and may start up to 4 bytes before it, for letter prefixes),
// optionally verified by a checksum over its digits.
type NationalID struct {
	Name     string
	Pattern  string // custom only; at most 64 bytes long a match
	Checksum string // custom only: "", "luhn", "mod11" or "mod97"
}

type nationalID struct {
	name     string
	builtin  bool // name is a built-in
	re       *regexp.Regexp
	checksum string
}

// customBack is how far before the first digit a custom match may start.
const customBack = 4

func compileNationalID(n NationalID) (*nationalID, error) {
	if n.Pattern == "" {
		switch n.Name {
		case "US_SSN":
			return &nationalID{name: n.Name, builtin: true}, nil
		}
		return nil, fmt.Errorf("no built-in national identifier named %q (built-in: US_SSN)", n.Name)
	}
	if n.Name == "" {
		return nil, fmt.Errorf("custom national identifier needs a name")
	}
	re, err := regexp.Compile(n.Pattern)
	if err != nil {
		return nil, err
	}
	tree, _ := syntax.Parse(n.Pattern, syntax.Perl)
	if l := maxMatchLen(tree); l == unbounded || l > 64 {
		return nil, fmt.Errorf("pattern must match at most 64 bytes")
	}
	switch n.Checksum {
	case "", "luhn", "mod11", "mod97":
	default:
		return nil, fmt.Errorf("unknown checksum %q (luhn, mod11, mod97)", n.Checksum)
	}
	return &nationalID{name: n.Name, re: re, checksum: n.Checksum}, nil
}

func (s *scanner) findNationalIDs(w *window, t *numToken, p int) {
	for _, id := range s.p.natIDs {
		if id.builtin { // US_SSN, the only built-in
			if start, end, ok := usSSN(w, t); ok {
				s.addCand(start, end, KindNationalID, id.name, s.p.action(KindNationalID))
			}
			continue
		}
		s.findCustomID(w, id, p)
	}
}

func (s *scanner) findCustomID(w *window, id *nationalID, p int) {
	from := max(p-customBack, w.off)
	text := w.text[from-w.off:]
	for _, loc := range id.re.FindAllIndex(text, -1) {
		start, end := from+loc[0], from+loc[1]
		if start > p || end <= p || (start == w.off && !w.bot) || (loc[1] == len(text) && !w.eot) {
			continue
		}
		if !checksumOK(id.checksum, text[loc[0]:loc[1]]) {
			continue
		}
		s.addCand(start, end, KindNationalID, id.name, s.p.action(KindNationalID))
		return
	}
}

// usSSN recognises AAA-GG-SSSS (dashes, spaces or dots, used consistently)
// under the SSA's allocation rules: no area 000, 666 or 900-999, no group
// 00, no serial 0000, and not the numbers published in advertising.
func usSSN(w *window, t *numToken) (int, int, bool) {
	if t.n != 3 || t.cut || t.groupLen(0) != 3 || t.groupLen(1) != 2 || t.groupLen(2) != 4 {
		return 0, 0, false
	}
	if t.sepLen[1] != 1 || t.sepLen[2] != 1 || t.sep[1] != t.sep[2] || t.sep[1] == '/' || t.sep[1] == '(' || t.sep[1] == ')' {
		return 0, 0, false
	}
	if !followsCleanly(w, t.g[2][1]) {
		return 0, 0, false
	}
	d := string(t.appendDigits(make([]byte, 0, 9), w, 0, 2))
	area, group, serial := d[:3], d[3:5], d[5:]
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return 0, 0, false
	}
	switch d {
	case "078051120", "219099999", "123456789":
		return 0, 0, false
	}
	if allSame(d) {
		return 0, 0, false
	}
	return t.g[0][0], t.g[2][1], true
}

// checksumOK verifies a named checksum over the digits of b.
func checksumOK(name string, b []byte) bool {
	if name == "" {
		return true
	}
	var buf [64]byte
	d := buf[:0]
	for _, c := range b {
		if isDigit(c) && len(d) < len(buf) {
			d = append(d, c)
		}
	}
	switch name {
	case "luhn":
		return len(d) > 1 && luhn(d)
	case "mod11":
		return mod11(d)
	case "mod97":
		return len(d) > 2 && mod97Digits(d)
	}
	return false
}

func allSame(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return true
}

// mod11 is the weighted mod-11 check used by many national numbers: weights
// 2, 3, … from the rightmost digit before the check digit; check digit
// (11 - sum mod 11) mod 11, and 10 is invalid.
func mod11(d []byte) bool {
	if len(d) < 2 {
		return false
	}
	sum := 0
	for i, w := len(d)-2, 2; i >= 0; i, w = i-1, w+1 {
		sum += int(d[i]-'0') * w
	}
	check := (11 - sum%11) % 11
	return check != 10 && check == int(d[len(d)-1]-'0')
}

func mod97Digits(d []byte) bool {
	r := 0
	for _, c := range d {
		r = (r*10 + int(c-'0')) % 97
	}
	return r == 1
}
