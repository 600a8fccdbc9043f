package inject

// secondaryCap is the most that hidden-content and obfuscation signals can
// score on their own. HTML e-mails hide preheaders with display:none and
// right-to-left text carries bidi controls; such signals justify annotating
// a text, and they raise the score of an instruction found with them, but
// alone they should not remove or block content.
const secondaryCap = 0.45

// score combines the fired rules: within the primary families
// (instruction, delimiter, exfiltration, plus scan-budget-exceeded) and
// within the secondary ones (hidden, obfuscation) as independent evidence, 1 - Π(1 - w), each rule
// id counted once however often it matched. Rule ids are visited in table
// order so the floating-point result is the same on every call.
func (a *accum) score() float64 {
	primary, secondary := 1.0, 1.0
	for i, w := range a.fired {
		if w == 0 {
			continue
		}
		if a.d.rules.ids[i].primary {
			primary *= 1 - w
		} else {
			secondary *= 1 - w
		}
	}
	p, s := 1-primary, 1-secondary
	if p == 0 {
		return min(s, secondaryCap)
	}
	return 1 - (1-p)*(1-s)
}
