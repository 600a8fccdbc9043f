package redact

// ibanLengths is the IBAN length per country (SWIFT IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
	"JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
	"LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
	"MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
	"PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
	"SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// findIBAN checks for an IBAN whose check digits start at p: two country
// letters before them, then the BBAN, written solid or in groups of four
// separated by single spaces; the length must be the country's and the
// ISO 7064 mod-97 check must hold.
func (s *scanner) findIBAN(w *window, p int) {
	c0, ok0 := w.at(p - 2)
	c1, ok1 := w.at(p - 1)
	if !ok0 || !ok1 || !isAlpha(c0) {
		return
	}
	if before, ok := w.at(p - 3); ok && isWordByte(before) {
		return
	}
	want, ok := ibanLengths[string([]byte{c0 &^ 0x20, c1 &^ 0x20})]
	if !ok {
		return
	}
	var chars [34]byte
	chars[0], chars[1] = c0, c1
	n, i, end := 2, p, -1
	for n < want {
		c, ok := w.at(i)
		if c == ' ' && n%4 == 0 {
			if next, ok := w.at(i + 1); ok && isWordByte(next) && next != '_' {
				i++
				continue
			}
		}
		if !ok || !isDigit(c) && !isAlpha(c) {
			return
		}
		chars[n] = c
		n, i = n+1, i+1
	}
	end = i
	if !followsCleanly(w, end) || !isDigit(chars[2]) || !isDigit(chars[3]) || !mod97(chars[:n]) {
		return
	}
	s.addCand(p-2, end, KindIBAN, "mod97", s.p.action(KindIBAN))
}

// mod97 is the ISO 13616 check: the first four characters moved to the end,
// letters as 10..35, the number mod 97 must be 1.
func mod97(iban []byte) bool {
	r := 0
	add := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
			return
		}
		v := int(c|0x20-'a') + 10
		r = (r*100 + v) % 97
	}
	for _, c := range iban[4:] {
		add(c)
	}
	for _, c := range iban[:4] {
		add(c)
	}
	return r == 1
}
