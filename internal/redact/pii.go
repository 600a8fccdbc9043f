package redact

// Numeric PII: every detector here starts from the first digit of a digit
// run and reads a bounded window around it, and each candidate must pass a
// validation a random digit string almost never does (Luhn with a known
// issuer range and length, ISO 7064 mod-97 with the country's IBAN length,
// SSA allocation rules, libphonenumber's per-region number plans).

// maxGroups bounds the digit groups read from one number.
const maxGroups = 12

// numToken is a run of digit groups joined by separator runs of one or two
// bytes (spaces, dashes, dots, slashes, parentheses): the way phone numbers,
// card numbers and identifiers are written.
type numToken struct {
	g      [maxGroups][2]int // absolute [start, end) of each digit group
	sep    [maxGroups]byte   // first separator byte before group i (0 for i=0)
	sepLen [maxGroups]int
	n      int
	cut    bool // the last group runs into the end of the window
}

func isDigit(c byte) bool { return c-'0' < 10 }

func isAlpha(c byte) bool { return (c|0x20)-'a' < 26 }

func isWordByte(c byte) bool { return isDigit(c) || isAlpha(c) || c == '_' }

func isNumSep(c byte) bool {
	switch c {
	case ' ', '-', '.', '/', '(', ')':
		return true
	}
	return false
}

func scanNumber(w *window, p int) numToken {
	var t numToken
	text, i := w.text, p-w.off
	for t.n < maxGroups {
		start := i
		for i < len(text) && isDigit(text[i]) {
			i++
		}
		t.g[t.n] = [2]int{start + w.off, i + w.off}
		t.n++
		if i == len(text) {
			t.cut = !w.eot
			return t
		}
		j := i
		for j < len(text) && j-i < 2 && isNumSep(text[j]) {
			j++
		}
		if j == i || j == len(text) || !isDigit(text[j]) || t.n == maxGroups {
			return t
		}
		t.sep[t.n], t.sepLen[t.n] = text[i], j-i
		i = j
	}
	return t
}

func (t *numToken) groupLen(i int) int { return t.g[i][1] - t.g[i][0] }

// appendDigits appends the digits of groups from..to (inclusive).
func (t *numToken) appendDigits(dst []byte, w *window, from, to int) []byte {
	for i := from; i <= to; i++ {
		dst = append(dst, w.text[t.g[i][0]-w.off:t.g[i][1]-w.off]...)
	}
	return dst
}

// evalNumber runs the pure numeric detectors (cards, IBANs, national IDs)
// at the first digit of a run, and reports whether a phone validation is
// due there; that part spends budget, so it runs in queue order (evalPhone).
func (s *scanner) evalNumber(w *window, p int) bool {
	t := scanNumber(w, p)
	prev, hasPrev := w.at(p - 1)
	wordStart := !hasPrev || !isWordByte(prev)
	if wordStart && s.p.action(KindCard) != ActionOff {
		s.findCard(w, &t)
	}
	if hasPrev && isAlpha(prev) && s.p.action(KindIBAN) != ActionOff {
		s.findIBAN(w, p)
	}
	if !wordStart {
		return false
	}
	cs := phoneStart(w, p)
	if !tokenStart(w, cs) {
		return false
	}
	if cs == p && s.p.action(KindNationalID) != ActionOff {
		s.findNationalIDs(w, &t, p)
	}
	return s.p.action(KindPhone) != ActionOff && phoneCandidate(w, &t)
}

// phoneStart includes a '+' or '(' written just before the first digit.
func phoneStart(w *window, p int) int {
	if c, ok := w.at(p - 1); ok && (c == '+' || c == '(') {
		return p - 1
	}
	return p
}

// tokenStart says whether a number beginning at cs is a token of its own,
// not the continuation of a longer number or an identifier.
func tokenStart(w *window, cs int) bool {
	c, ok := w.at(cs - 1)
	if !ok {
		return cs == 0
	}
	switch {
	case isWordByte(c), c == '-', c == '.', c == '/', c == '+', c == '#', c == '$', c == '%', c == '&':
		return false
	case c == ' ' || c == '(' || c == ')':
		// After a digit and a space, a number continues, unless this one
		// opens with '+': "…2671 +44 20…" is two numbers.
		if lead, _ := w.at(cs); lead == '+' {
			return true
		}
		before, ok := w.at(cs - 2)
		return !ok || !isDigit(before)
	}
	return true
}

// followsCleanly says the byte after a candidate does not continue a word.
func followsCleanly(w *window, end int) bool {
	c, ok := w.at(end)
	if !ok {
		return w.eot
	}
	return !isWordByte(c)
}

// findCard looks for the longest card number starting at the first group:
// 12 to 19 digits in groups of three or more joined by one repeated space or
// dash (or none), passing Luhn, with an issuer range that issues that length.
func (s *scanner) findCard(w *window, t *numToken) {
	var digits [24]byte
	n, best := 0, -1
	for j := 0; j < t.n; j++ {
		gl := t.groupLen(j)
		if gl < 3 || n+gl > 19 || (t.cut && j == t.n-1) {
			break
		}
		if j > 0 && (t.sepLen[j] != 1 || (t.sep[j] != ' ' && t.sep[j] != '-') || (j > 1 && t.sep[j] != t.sep[1])) {
			break
		}
		n += copy(digits[n:], w.text[t.g[j][0]-w.off:t.g[j][1]-w.off])
		if n >= 12 && (j < t.n-1 || followsCleanly(w, t.g[j][1])) && luhn(digits[:n]) && issuerLength(digits[:n]) {
			best = j
		}
	}
	if best >= 0 {
		s.addCand(t.g[0][0], t.g[best][1], KindCard, "luhn", s.p.action(KindCard))
	}
}

func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// issuerRange is a card IIN range: the first digits digits of the number
// between lo and hi, and the lengths that issuer uses.
type issuerRange struct {
	digits, lo, hi int
	minL, maxL     int
}

// issuers lists the card networks' published IIN ranges.
var issuers = []issuerRange{
	{1, 4, 4, 13, 19},           // Visa (13, 16, 19)
	{2, 51, 55, 16, 16},         // Mastercard
	{4, 2221, 2720, 16, 16},     // Mastercard 2-series
	{2, 34, 34, 15, 15},         // American Express
	{2, 37, 37, 15, 15},         // American Express
	{4, 6011, 6011, 16, 19},     // Discover
	{3, 644, 649, 16, 19},       // Discover
	{2, 65, 65, 16, 19},         // Discover, RuPay
	{4, 3528, 3589, 16, 19},     // JCB
	{4, 1800, 1800, 15, 15},     // JCB (legacy)
	{4, 2131, 2131, 15, 15},     // JCB (legacy)
	{3, 300, 305, 14, 19},       // Diners Club
	{4, 3095, 3095, 14, 19},     // Diners Club
	{2, 36, 36, 14, 19},         // Diners Club
	{2, 38, 39, 16, 19},         // Diners Club
	{2, 62, 62, 16, 19},         // UnionPay
	{2, 81, 81, 16, 19},         // UnionPay
	{4, 2200, 2204, 16, 19},     // Mir
	{2, 50, 50, 12, 19},         // Maestro
	{2, 56, 69, 12, 19},         // Maestro and domestic schemes
	{2, 60, 60, 16, 19},         // RuPay
	{6, 506099, 506198, 16, 19}, // Verve
}

func issuerLength(d []byte) bool {
	prefix := 0
	for k := 1; k <= 6 && k <= len(d); k++ {
		prefix = prefix*10 + int(d[k-1]-'0')
		for _, r := range issuers {
			if r.digits == k && len(d) >= r.minL && len(d) <= r.maxL && prefix >= r.lo && prefix <= r.hi {
				return true
			}
		}
	}
	return false
}
