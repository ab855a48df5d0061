package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
)

// Secret is a config value that holds a credential. In gatehouse.json it is
// one of:
//
//	{"secret": "NAME"}   a name in the encrypted secret store (preferred)
//	"${VAR}"             an environment variable
//	"plaintext"          the value itself (works, but doctor and the audit flag it)
//
// A Secret never prints its value: String and LogValue are redacted.
type Secret struct {
	// Ref is the secret store name, when the value is {"secret": Ref}.
	Ref string
	// Env is the environment variable name, when the value is "${Env}".
	Env string
	// Plain is the value itself, when written in plaintext.
	Plain string
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// IsZero reports whether the secret is unset.
func (s Secret) IsZero() bool { return s.Ref == "" && s.Env == "" && s.Plain == "" }

// IsPlaintext reports whether the secret is written in plaintext in the config.
func (s Secret) IsPlaintext() bool { return s.Plain != "" }

// String never returns the value.
func (s Secret) String() string {
	switch {
	case s.Ref != "":
		return fmt.Sprintf("{secret: %s}", s.Ref)
	case s.Env != "":
		return "${" + s.Env + "}"
	case s.Plain != "":
		return Redacted
	}
	return ""
}

// LogValue keeps secrets out of logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Redacted is what a plaintext secret prints as.
const Redacted = "[redacted]"

// MarshalJSON writes the secret back in the form it was read.
func (s Secret) MarshalJSON() ([]byte, error) {
	switch {
	case s.Ref != "":
		return json.Marshal(map[string]string{"secret": s.Ref})
	case s.Env != "":
		return json.Marshal("${" + s.Env + "}")
	default:
		return json.Marshal(s.Plain)
	}
}

// UnmarshalJSON reads any of the three forms.
func (s *Secret) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*s = Secret{}
	if len(b) > 0 && b[0] == '{' {
		var ref struct {
			Secret string `json:"secret"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil || ref.Secret == "" {
			return errors.New(`a secret reference is {"secret": "NAME"}`)
		}
		s.Ref = ref.Secret
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New(`a secret is a string, "${ENV_VAR}" or {"secret": "NAME"}`)
	}
	if m := envRef.FindStringSubmatch(str); m != nil {
		s.Env = m[1]
		return nil
	}
	s.Plain = str
	return nil
}

// SecretLookup finds a named secret in the secret store.
type SecretLookup func(name string) (string, error)

// ErrSecretUnset is returned when resolving a Secret that has no value.
var ErrSecretUnset = errors.New("secret is not set")

// Resolve returns the secret's value. store resolves {"secret": NAME};
// getenv resolves "${VAR}" (os.LookupEnv in production).
func (s Secret) Resolve(store SecretLookup, getenv func(string) (string, bool)) (string, error) {
	switch {
	case s.Ref != "":
		if store == nil {
			return "", fmt.Errorf("secret %q: no secret store", s.Ref)
		}
		v, err := store(s.Ref)
		if err != nil {
			return "", fmt.Errorf("secret %q: %w", s.Ref, err)
		}
		return v, nil
	case s.Env != "":
		v, ok := getenv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.Plain != "":
		return s.Plain, nil
	}
	return "", ErrSecretUnset
}
