package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ProblemUnknownKey is the FieldError.Problem of a key the schema does not
// have. Compare with it instead of matching error strings.
const ProblemUnknownKey = "unknown key"

// FieldError is a problem with one key of the configuration: an unknown key,
// a value of the wrong type, a value outside its enum or bounds, or a
// semantic rule (see Config.Validate). Parse and the File methods return it,
// or several of them joined with errors.Join.
type FieldError struct {
	// Path is the dotted path of the key, e.g. "gateway.bind"; array elements
	// are written path[i]. Empty for the document as a whole.
	Path string
	// Problem says what is wrong, without the path: ProblemUnknownKey, or a
	// phrase such as `"foo" is not one of loopback, lan, tailnet, custom`.
	Problem string
	// Got is the offending value as written, when it can be shown. It is
	// never set for a secret's value.
	Got string
	// Allowed lists the allowed values of an enum.
	Allowed []string
	// DidYouMean is the closest valid path for an unknown key, or the
	// closest allowed value for a misspelt enum value. Empty when nothing
	// is close.
	DidYouMean string
}

// Error reads like `unknown key "gateway.bnd" (did you mean "gateway.bind"?)`
// or `gateway.bind: "foo" is not one of loopback, lan, tailnet, custom`.
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.Problem == ProblemUnknownKey:
		fmt.Fprintf(&b, "unknown key %q", e.Path)
	case e.Path == "":
		b.WriteString(e.Problem)
	default:
		b.WriteString(e.Path + ": " + e.Problem)
	}
	if e.DidYouMean != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", e.DidYouMean)
	}
	return b.String()
}

// joinErrors returns nil, the only error, or all of them joined, so that a
// single problem is returned as a bare *FieldError.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// closest returns the candidate nearest to s: a case-insensitive match, or
// the one within a small Levenshtein distance. It returns "" when nothing is
// close enough to be a plausible typo.
func closest(s string, candidates []string) string {
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if strings.ToLower(c) == ls {
			return c
		}
	}
	n := utf8.RuneCountInString(s)
	limit := 1
	switch {
	case n > 8:
		limit = 3
	case n > 4:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		d := levenshtein(ls, strings.ToLower(c))
		if d < bestD && d < n {
			best, bestD = c, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, in runes, counting a
// swap of two adjacent runes as one edit (the optimal string alignment
// variant), since "auht" for "auth" is a typical typo.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
