package inject

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"
)

// Classifier is an external scorer, typically a model served over HTTP.
//
// Contract: Classify returns a score in [0, 1]. On failure it returns an
// error and, with it, the score its fail mode dictates (1 for fail closed, 0
// for fail open), so a caller that only logs the error still behaves as
// configured. A score outside [0, 1] with an error is treated as 1.
type Classifier interface {
	Classify(ctx context.Context, text string) (float64, error)
}

// FailMode says what a failed classification scores.
type FailMode int

const (
	// FailClosed (the zero value) scores a failure 1: the policy's
	// strongest action applies.
	FailClosed FailMode = iota
	// FailOpen scores a failure 0: only the rules decide.
	FailOpen
)

func (m FailMode) String() string {
	if m == FailOpen {
		return "fail_open"
	}
	return "fail_closed"
}

func (m FailMode) score() float64 {
	if m == FailOpen {
		return 0
	}
	return 1
}

// ErrClassifierUnavailable wraps every HTTPClassifier failure.
var ErrClassifierUnavailable = errors.New("classifier unavailable")

// HTTPClassifierOptions configures NewHTTPClassifier.
type HTTPClassifierOptions struct {
	// URL receives POST {"text": "..."} and answers {"score": 0.0..1.0}.
	URL string
	// Timeout bounds each call, connection included (default 500ms).
	Timeout time.Duration
	// FailMode decides the score of a failed call.
	FailMode FailMode
	// MaxTextBytes caps the text sent (default 64 KiB); longer text is
	// cut, on a UTF-8 boundary.
	MaxTextBytes int
	// Header is added to every request (e.g. an Authorization header for
	// the model server). Its values are never logged or put in errors.
	Header http.Header
	// Transport is the HTTP transport (default http.DefaultTransport).
	Transport http.RoundTripper
}

// HTTPClassifier is a Classifier that calls a model server.
type HTTPClassifier struct {
	url      string
	timeout  time.Duration
	failMode FailMode
	maxText  int
	header   http.Header
	client   *http.Client
}

const (
	defaultClassifierTimeout = 500 * time.Millisecond
	defaultClassifierText    = 64 << 10
	maxClassifierResponse    = 64 << 10
)

// NewHTTPClassifier validates o and returns a classifier.
func NewHTTPClassifier(o HTTPClassifierOptions) (*HTTPClassifier, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("inject: classifier URL must be an absolute http(s) URL, got %q", redactURL(o.URL))
	}
	if o.Timeout < 0 || o.MaxTextBytes < 0 {
		return nil, errors.New("inject: classifier Timeout and MaxTextBytes must not be negative")
	}
	if o.FailMode != FailClosed && o.FailMode != FailOpen {
		return nil, fmt.Errorf("inject: unknown classifier fail mode %d", o.FailMode)
	}
	c := &HTTPClassifier{url: u.String(), timeout: o.Timeout, failMode: o.FailMode, maxText: o.MaxTextBytes, header: o.Header.Clone()}
	if c.timeout == 0 {
		c.timeout = defaultClassifierTimeout
	}
	if c.maxText == 0 {
		c.maxText = defaultClassifierText
	}
	c.client = &http.Client{
		Transport: o.Transport,
		// The text is untrusted tool output: a redirect must not send it
		// somewhere the operator did not configure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// FailMode returns the configured fail mode.
func (c *HTTPClassifier) FailMode() FailMode { return c.failMode }

// Classify posts text and returns the server's score, or the fail-mode
// score and an error wrapping ErrClassifierUnavailable.
func (c *HTTPClassifier) Classify(ctx context.Context, text string) (float64, error) {
	s, err := c.classify(ctx, text)
	if err != nil {
		return c.failMode.score(), fmt.Errorf("%w (%s): %w", ErrClassifierUnavailable, c.failMode, err)
	}
	return s, nil
}

func (c *HTTPClassifier) classify(ctx context.Context, text string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{cutUTF8(text, c.maxText)})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("no answer within %s", c.timeout)
		}
		return 0, errors.New("request failed: " + stripURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var out struct {
		Score *float64 `json:"score"`
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxClassifierResponse))
	if err := dec.Decode(&out); err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("no answer within %s", c.timeout)
		}
		return 0, errors.New("response is not JSON {\"score\": number}")
	}
	if out.Score == nil || math.IsNaN(*out.Score) || *out.Score < 0 || *out.Score > 1 {
		return 0, errors.New("response score missing or outside [0, 1]")
	}
	return *out.Score, nil
}

// stripURL reports a transport error without the URL, which may carry
// credentials in its query or user info.
func stripURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// redactURL keeps a URL's scheme and host for an error message.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
