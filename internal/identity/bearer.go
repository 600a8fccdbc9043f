package identity

// MaxTokenLen bounds a bearer token. Real access tokens are a few KiB; a
// larger one is refused before it is hashed, decoded or logged.
const MaxTokenLen = 16 << 10

// BearerToken extracts the token from an Authorization header value
// (RFC 6750 §2.1): the scheme "Bearer" in any case, one or more spaces, and
// exactly one b64token. An empty header or another scheme is ErrMissing (RFC
// 6750 §3.1: no error code for a client that did not try bearer auth);
// anything else that is not exactly one well-formed token is ErrMalformed.
func BearerToken(authorization string) (string, error) {
	if authorization == "" {
		return "", fail(ErrMissing, "no authorization header")
	}
	const scheme = "bearer"
	if len(authorization) < len(scheme) || !asciiEqualFold(authorization[:len(scheme)], scheme) {
		return "", fail(ErrMissing, "authorization scheme is not Bearer")
	}
	rest := authorization[len(scheme):]
	if rest == "" {
		return "", fail(ErrMalformed, "empty bearer token")
	}
	if rest[0] != ' ' {
		if isB64TokenChar(rest[0]) {
			// "Bearerx ..." is another scheme, not a malformed bearer header.
			return "", fail(ErrMissing, "authorization scheme is not Bearer")
		}
		return "", fail(ErrMalformed, "Bearer must be followed by a space")
	}
	i := 0
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	token := rest[i:]
	if err := checkB64Token(token); err != nil {
		return "", err
	}
	return token, nil
}

// checkB64Token enforces RFC 6750's b64token grammar:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func checkB64Token(token string) error {
	if token == "" {
		return fail(ErrMalformed, "empty bearer token")
	}
	if len(token) > MaxTokenLen {
		return fail(ErrMalformed, "bearer token too long")
	}
	end := len(token)
	for end > 0 && token[end-1] == '=' {
		end--
	}
	if end == 0 {
		return fail(ErrMalformed, "bearer token has no characters before padding")
	}
	for i := 0; i < end; i++ {
		if !isB64TokenChar(token[i]) {
			return fail(ErrMalformed, "bearer token contains a character outside b64token (or more than one token)")
		}
	}
	return nil
}

func isB64TokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/':
		return true
	}
	return false
}

func asciiEqualFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
