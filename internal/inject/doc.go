// Package inject finds text that looks like a prompt injection in tool
// results and tool-call arguments, before either reaches a model.
//
// It is a pattern detector: it recognizes known shapes of injected
// instructions (overrides addressed to the model, forged role and boundary
// tokens, exfiltration and tool-call requests, hidden HTML and markdown)
// after undoing common evasions (compatibility forms, invisible and tag
// characters, Cyrillic and Greek look-alikes, base64, hex, URL and HTML
// entity encodings). It does not understand intent, and an injection phrased
// in ordinary words ("What is the capital of Brazil?") passes it. It lowers
// risk; it does not block prompt injection. docs/injection.md has measured
// detection and false-positive rates.
//
// Flow: Detector.Detect(text) → Result{Score, Findings, Flags}; a Policies
// ladder maps the score to an Action (annotate, neutralize, block); Apply,
// Annotate and Neutralize rewrite the text. DetectContext also consults an
// optional external Classifier (HTTPClassifier talks to a model server).
//
// Cost is linear in the input: one normalization pass, one pass over words
// and lead bytes, one bounded anchored regexp run per anchor, and decoding
// of at most MaxScanBytes of blobs, two layers deep. Input beyond
// Options.MaxScanBytes is not examined (FlagTruncated).
package inject
