package inject

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// folded is text as the rules see it: compatibility-decomposed, stripped of
// combining marks and invisible characters, confusables folded to Latin,
// lower-cased. src maps every byte of text back to the byte offset in the
// input of the rune that produced it, so a match in folded text becomes a
// span in the caller's text.
type folded struct {
	text string
	src  []int32
}

// foldResult is what one pass over the input yields besides the folded text:
// signals about what was removed, and hidden text (Unicode tag runs) that is
// scanned as its own layer.
type foldResult struct {
	folded
	flags     Flags
	signals   []signal
	tagLayers []layer
	truncated bool
}

// signal is an obfuscation observation with the span it covers in the input.
type signal struct {
	rule string
	span [2]int
	text string // what to show in the excerpt, when not the span itself
}

// maxSignalsPerRule bounds how many spans of one obfuscation kind are kept:
// a text with ten thousand zero-width characters needs one finding, not ten
// thousand.
const maxSignalsPerRule = 8

// foldState carries the per-word and per-run bookkeeping of fold.
type foldState struct {
	out  []byte
	src  []int32
	res  foldResult
	seen map[string]int

	// word tracking for mixed-script detection
	wordStart        int
	wordLatin        bool
	wordConfusable   bool
	lastEmitLetter   bool
	pendingZW        int // input offset of a zero-width char after a letter, or -1
	pendingZWEnd     int
	tagStart, tagEnd int
	tagText          []byte
	prevRune         rune
	scratch          [64]byte
}

// fold normalizes s, emitting at most maxOut bytes of folded text.
//
// NFKD followed by dropping combining marks is used rather than NFKC: for
// matching, NFKC's compatibility mapping is what matters and its canonical
// recomposition would turn "i"+U+0301 into "í", which no rule matches, so an
// accent sprinkled over a keyword would defeat it. Decomposition is done per
// rune, which is exact here because the only cross-rune step of NFKD is the
// reordering of combining marks, and those are dropped.
func fold(s string, maxOut int) foldResult {
	st := &foldState{
		out:       make([]byte, 0, len(s)),
		src:       make([]int32, 0, len(s)),
		seen:      map[string]int{},
		pendingZW: -1,
		tagStart:  -1,
		wordStart: -1,
	}
	for i := 0; i < len(s); {
		if len(st.out) >= maxOut {
			st.res.truncated = true
			break
		}
		if c := s[i]; c < utf8.RuneSelf && st.tagStart < 0 {
			st.fastASCII(i, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			st.res.flags |= FlagInvalidUTF8
			i++
			continue
		}
		st.step(s, i, r, size)
		st.prevRune = r
		i += size
	}
	st.endTagRun()
	st.endWord(len(s))
	st.res.text = string(st.out)
	st.res.src = st.src
	return st.res
}

func (st *foldState) step(s string, i int, r rune, size int) {
	if isTag(r) {
		st.addTag(i, r, size)
		return
	}
	st.endTagRun()
	switch {
	case r < utf8.RuneSelf:
		st.ascii(i, byte(r))
	case unicode.Is(unicode.Cf, r):
		st.invisible(i, r, size)
	case unicode.In(r, unicode.Mn, unicode.Me):
		// Combining marks and variation selectors carry no letters.
	case unicode.In(r, unicode.Zs):
		st.emit(i, ' ', false)
	case r == 0x2028 || r == 0x2029:
		st.emit(i, '\n', false)
	default:
		st.decomposed(s, i, size, r)
	}
}

// fastASCII is emit specialized for one ASCII byte, which is nearly all of
// most tool output; it keeps the same word and zero-width bookkeeping.
func (st *foldState) fastASCII(i int, c byte) {
	switch {
	case c >= 'A' && c <= 'Z':
		c += 'a' - 'A'
	case c == '\r':
		c = '\n'
	case c == '\t':
		c = ' '
	case c < 0x20 && c != '\n' || c == 0x7f:
		st.prevRune = rune(c)
		return
	}
	if st.collapse(c) {
		st.prevRune = rune(c)
		return
	}
	letter := c >= 'a' && c <= 'z'
	switch {
	case letter:
		if st.pendingZW >= 0 {
			st.res.flags |= FlagZeroWidthInWord
			st.addSignal(ruleZeroWidth, st.pendingZW, st.pendingZWEnd)
		}
		if st.wordStart < 0 {
			st.wordStart = i
		}
		st.wordLatin = true
	case c >= '0' && c <= '9' || c == '_':
		if st.wordStart < 0 {
			st.wordStart = i
		}
	default:
		if st.wordStart >= 0 {
			st.endWord(i)
		}
	}
	st.pendingZW = -1
	st.lastEmitLetter = letter
	st.prevRune = rune(c)
	st.out = append(st.out, c)
	st.src = append(st.src, int32(i))
}

func (st *foldState) ascii(i int, c byte) {
	switch {
	case c >= 'A' && c <= 'Z':
		st.emit(i, rune(c+('a'-'A')), false)
	case c == '\r':
		st.emit(i, '\n', false)
	case c == '\t' || c == '\n' || c >= 0x20 && c != 0x7f:
		st.emit(i, rune(c), false)
	default:
		// Other C0 controls are dropped: no rule needs them, and keeping
		// them would let one split a keyword.
	}
}

// invisible handles format characters (zero-width, bidi controls, soft
// hyphen, word joiner, BOM): they are dropped, and the ones that matter as
// evasion are recorded.
func (st *foldState) invisible(i int, r rune, size int) {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		st.res.flags |= FlagBidiControl
		st.addSignal(ruleBidi, i, i+size)
	case r == 0x200D && isEmojiish(st.prevRune):
		// Zero-width joiner inside an emoji sequence is ordinary.
	default:
		if st.lastEmitLetter && st.pendingZW < 0 {
			st.pendingZW, st.pendingZWEnd = i, i+size
		} else if st.pendingZW >= 0 {
			st.pendingZWEnd = i + size
		}
	}
}

func (st *foldState) decomposed(s string, i, size int, r rune) {
	if norm.NFKD.PropertiesString(s[i:i+size]).Decomposition() == nil {
		st.foldRune(i, r)
		return
	}
	dec := norm.NFKD.AppendString(st.scratch[:0], s[i:i+size])
	for len(dec) > 0 {
		r, n := utf8.DecodeRune(dec)
		dec = dec[n:]
		st.foldRune(i, r)
	}
}

// foldRune emits one rune of a decomposition: marks dropped, look-alikes
// folded, letters lower-cased.
func (st *foldState) foldRune(i int, r rune) {
	switch l, ok := confusables[r]; {
	case unicode.In(r, unicode.Mn, unicode.Me):
	case ok:
		st.emit(i, l.to, l.script)
	case r < utf8.RuneSelf:
		st.ascii(i, byte(r))
	default:
		st.emit(i, unicode.ToLower(r), false)
	}
}

// collapse folds a run of white space into one byte ('\n' if the run holds
// a line break, else ' ') and reports whether c was absorbed. Rules match
// \s+ anyway; collapsing keeps a phrase padded with thousands of spaces
// inside the window its rule examines.
func (st *foldState) collapse(c byte) bool {
	if c != ' ' && c != '\n' {
		return false
	}
	n := len(st.out)
	if n == 0 || st.out[n-1] != ' ' && st.out[n-1] != '\n' {
		return false
	}
	if c == '\n' {
		st.out[n-1] = '\n'
	}
	st.pendingZW = -1
	return true
}

// emit appends r (produced by the input rune at offset i) to the output.
func (st *foldState) emit(i int, r rune, confusable bool) {
	if r == '\t' {
		r = ' '
	}
	if r < utf8.RuneSelf && st.collapse(byte(r)) {
		return
	}
	letter := isWordRune(r)
	asciiLetter := r >= 'a' && r <= 'z'
	if letter {
		// Only between ASCII letters: ZWNJ is ordinary inside Persian
		// and Indic words.
		if st.pendingZW >= 0 && asciiLetter {
			st.res.flags |= FlagZeroWidthInWord
			st.addSignal(ruleZeroWidth, st.pendingZW, st.pendingZWEnd)
		}
		if st.wordStart < 0 {
			st.wordStart = i
		}
		if confusable {
			st.wordConfusable = true
		} else if asciiLetter {
			st.wordLatin = true
		}
	} else {
		st.endWord(i)
	}
	st.pendingZW = -1
	st.lastEmitLetter = asciiLetter || confusable
	n := len(st.out)
	st.out = utf8.AppendRune(st.out, r)
	for range len(st.out) - n {
		st.src = append(st.src, int32(i))
	}
}

// endWord closes the current word at input offset end: a word that mixes
// Latin letters with Cyrillic or Greek look-alikes is a classic way to hide
// a keyword from filters while a model still reads it.
func (st *foldState) endWord(end int) {
	if st.wordStart >= 0 && st.wordLatin && st.wordConfusable {
		st.res.flags |= FlagMixedScript
		st.addSignal(ruleMixedScript, st.wordStart, end)
	}
	st.wordStart, st.wordLatin, st.wordConfusable = -1, false, false
}

func (st *foldState) addSignal(rule string, start, end int) {
	st.addSignalText(rule, start, end, "")
}

func (st *foldState) addSignalText(rule string, start, end int, text string) {
	if st.seen[rule] >= maxSignalsPerRule {
		return
	}
	st.seen[rule]++
	st.res.signals = append(st.res.signals, signal{rule: rule, span: [2]int{start, end}, text: text})
}

// isTag reports whether r is in the Unicode tag block (U+E0000..U+E007F),
// whose characters mirror ASCII invisibly ("ASCII smuggling").
func isTag(r rune) bool { return r >= 0xE0000 && r <= 0xE007F }

func (st *foldState) addTag(i int, r rune, size int) {
	if st.tagStart < 0 {
		st.tagStart = i
		st.tagText = st.tagText[:0]
	}
	st.tagEnd = i + size
	if c := r - 0xE0000; c >= 0x20 && c < 0x7f {
		st.tagText = append(st.tagText, byte(c))
	}
}

// endTagRun turns a finished run of tag characters into a hidden layer,
// except for emoji subdivision flags (U+1F3F4 followed by a short tag run),
// the one ordinary use of the block.
func (st *foldState) endTagRun() {
	if st.tagStart < 0 {
		return
	}
	start, end, text := st.tagStart, st.tagEnd, string(st.tagText)
	st.tagStart = -1
	if st.flagBefore(start) && len(text) <= 7 && isAlnumLower(text) {
		return
	}
	st.res.flags |= FlagTagChars
	st.addSignalText(ruleTags, start, end, text)
	if text != "" {
		st.res.tagLayers = append(st.res.tagLayers, layer{kind: LayerTags, span: [2]int{start, end}, text: text})
	}
}

// flagBefore reports whether the rune just before the tag run was the black
// flag emoji; prevRune has already advanced past the run, so look at the
// emitted output instead.
func (st *foldState) flagBefore(tagStart int) bool {
	n := len(st.out)
	if n == 0 || int(st.src[n-1]) >= tagStart {
		return false
	}
	r, _ := utf8.DecodeLastRune(st.out)
	return r == 0x1F3F4
}

func isAlnumLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isEmojiish(r rune) bool {
	return r >= 0x1F000 || r >= 0x2600 && r <= 0x27BF || r == 0xFE0F
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r >= 'A' && r <= 'Z'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// origEnd returns the end offset in the input of the rune that produced
// folded byte j.
func (f *folded) origEnd(input string, j int) int {
	o := int(f.src[j])
	_, n := utf8.DecodeRuneInString(input[o:])
	return o + n
}
