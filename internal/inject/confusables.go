package inject

// lookalike is the Latin letter a character is folded to; script is true when
// the character belongs to another script (so a word mixing it with Latin is
// suspicious) and false for punctuation variants.
type lookalike struct {
	to     rune
	script bool
}

// confusables folds the Cyrillic, Greek and Armenian letters that render like
// Latin ones (after NFKD, so accented forms are already reduced to their base
// letter) and the typographic quotes and dashes that would otherwise split a
// phrase such as "don't". The list is the visually near-identical subset of
// Unicode's confusables data for the lower-case Latin alphabet; folding more
// aggressively would start turning ordinary Russian or Greek words into
// accidental English.
var confusables = map[rune]lookalike{
	// Cyrillic lower case
	'а': {'a', true}, 'в': {'b', true}, 'е': {'e', true}, 'к': {'k', true},
	'м': {'m', true}, 'н': {'h', true}, 'о': {'o', true}, 'р': {'p', true},
	'с': {'c', true}, 'т': {'t', true}, 'у': {'y', true}, 'х': {'x', true},
	'ѕ': {'s', true}, 'і': {'i', true}, 'ј': {'j', true}, 'ԁ': {'d', true},
	'һ': {'h', true}, 'ӏ': {'l', true}, 'ԛ': {'q', true}, 'ԝ': {'w', true},
	'ү': {'y', true}, 'ɡ': {'g', true},
	// Cyrillic upper case
	'А': {'a', true}, 'В': {'b', true}, 'Е': {'e', true}, 'К': {'k', true},
	'М': {'m', true}, 'Н': {'h', true}, 'О': {'o', true}, 'Р': {'p', true},
	'С': {'c', true}, 'Т': {'t', true}, 'Х': {'x', true}, 'У': {'y', true},
	'Ѕ': {'s', true}, 'І': {'i', true}, 'Ј': {'j', true}, 'Ӏ': {'l', true},
	'Ԛ': {'q', true}, 'Ԝ': {'w', true}, 'Һ': {'h', true},
	// Greek
	'α': {'a', true}, 'ο': {'o', true}, 'ρ': {'p', true}, 'ν': {'v', true},
	'ι': {'i', true}, 'κ': {'k', true}, 'υ': {'u', true}, 'χ': {'x', true},
	'ϲ': {'c', true}, 'ϳ': {'j', true},
	'Α': {'a', true}, 'Β': {'b', true}, 'Ε': {'e', true}, 'Ζ': {'z', true},
	'Η': {'h', true}, 'Ι': {'i', true}, 'Κ': {'k', true}, 'Μ': {'m', true},
	'Ν': {'n', true}, 'Ο': {'o', true}, 'Ρ': {'p', true}, 'Τ': {'t', true},
	'Υ': {'y', true}, 'Χ': {'x', true},
	// Armenian and Latin extensions
	'օ': {'o', true}, 'ս': {'u', true}, 'ı': {'i', true}, 'ȷ': {'j', true},
	'ɑ': {'a', true}, 'ɩ': {'i', true},
	// punctuation
	'‘': {'\'', false}, '’': {'\'', false}, '‛': {'\'', false}, '′': {'\'', false},
	'“': {'"', false}, '”': {'"', false}, '„': {'"', false}, '″': {'"', false},
	'‐': {'-', false}, '‑': {'-', false}, '‒': {'-', false}, '–': {'-', false},
	'—': {'-', false}, '―': {'-', false}, '−': {'-', false},
}
