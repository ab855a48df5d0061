package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Frame types.
const (
	TypeRequest  = "req"
	TypeResponse = "res"
	TypeEvent    = "event"
)

// Limits on the fields of a frame.
const (
	// MaxIDLen is the longest request id, in bytes.
	MaxIDLen = 64
	// MaxNameLen is the longest method or event name, in bytes.
	MaxNameLen = 128
)

// Frame is one message on the socket. Which fields are set depends on Type;
// [DecodeFrame] enforces it:
//
//	req    ID, Method, Params (optional, a JSON object)
//	res    ID, OK, and Payload when OK or Error when not
//	event  Event, Payload, Seq
type Frame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Event   string          `json:"event,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	OK      *bool           `json:"ok,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	Seq     uint64          `json:"seq,omitempty"`
}

// Error is the error of a failed request, as the gateway sent it. Code is
// stable and meant for branching; Message is for people.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "gateway error " + e.Code
	}
	return e.Message
}

// Error codes.
const (
	CodeUnauthorized    = "unauthorized"
	CodeLockedOut       = "locked_out"
	CodeForbidden       = "forbidden"
	CodeConnectRequired = "connect_required"
	CodeProtocol        = "unsupported_protocol"
	CodeInvalidRequest  = "invalid_request"
	CodeInvalidParams   = "invalid_params"
	CodeUnknownMethod   = "unknown_method"
	CodeNotFound        = "not_found"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
)

// frameKey reports whether key is one a frame may hold, spelled exactly.
// encoding/json matches keys without regard to case, so it would take "TYPE"
// for "type" and let a second spelling override the first; scanKeys refuses
// both.
func frameKey(key string) bool {
	switch key {
	case "type", "id", "method", "event", "params", "ok", "payload", "error", "seq":
		return true
	}
	return false
}

// DecodeFrame parses one frame strictly: b must be a single JSON object with
// no unknown or repeated keys, Type must be req, res or event, and the fields
// must fit the type (see [Frame]). It never panics.
func DecodeFrame(b []byte) (Frame, error) {
	if err := scanKeys(b); err != nil {
		return Frame{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f Frame
	if err := dec.Decode(&f); err != nil {
		return Frame{}, fmt.Errorf("invalid frame: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Frame{}, errors.New("invalid frame: data after the JSON object")
	}
	if isNull(f.Params) {
		f.Params = nil
	}
	if isNull(f.Payload) {
		f.Payload = nil
	}
	if err := f.validate(); err != nil {
		return Frame{}, fmt.Errorf("invalid %s frame: %w", f.Type, err)
	}
	return f, nil
}

func (f *Frame) validate() error {
	switch f.Type {
	case TypeRequest:
		if err := checkID(f.ID); err != nil {
			return err
		}
		if err := checkName("method", f.Method); err != nil {
			return err
		}
		if f.Params != nil && f.Params[0] != '{' {
			return errors.New("params must be a JSON object")
		}
		if f.Event != "" || f.OK != nil || f.Payload != nil || f.Error != nil || f.Seq != 0 {
			return errors.New("a request holds only id, method and params")
		}
	case TypeResponse:
		if err := checkID(f.ID); err != nil {
			return err
		}
		switch {
		case f.OK == nil:
			return errors.New("ok is missing")
		case *f.OK && f.Error != nil:
			return errors.New("a successful response has no error")
		case !*f.OK && f.Error == nil:
			return errors.New("a failed response needs an error")
		case !*f.OK && f.Payload != nil:
			return errors.New("a failed response has no payload")
		case f.Error != nil && f.Error.Code == "":
			return errors.New("error code is missing")
		}
		if f.Method != "" || f.Event != "" || f.Params != nil || f.Seq != 0 {
			return errors.New("a response holds only id, ok, payload and error")
		}
	case TypeEvent:
		if err := checkName("event", f.Event); err != nil {
			return err
		}
		if f.ID != "" || f.Method != "" || f.Params != nil || f.OK != nil || f.Error != nil {
			return errors.New("an event holds only event, payload and seq")
		}
	case "":
		return errors.New("type is missing")
	default:
		return fmt.Errorf("type must be req, res or event")
	}
	return nil
}

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("id is missing")
	case len(id) > MaxIDLen:
		return fmt.Errorf("id is longer than %d bytes", MaxIDLen)
	}
	return nil
}

// checkName checks a method or event name: 1 to MaxNameLen bytes of
// [a-z0-9._].
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s is missing", what)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%s is longer than %d bytes", what, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_') {
			return fmt.Errorf("%s may hold only a-z, 0-9, '.' and '_'", what)
		}
	}
	return nil
}

// scanKeys checks that b is a JSON object whose keys are known, spelled
// exactly and not repeated.
func scanKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid frame: %w", err)
	}
	if t != json.Delim('{') {
		return errors.New("invalid frame: a frame is a JSON object")
	}
	seen := make(map[string]bool, 9)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid frame: %w", err)
		}
		key, ok := t.(string)
		if !ok {
			return errors.New("invalid frame: object key is not a string")
		}
		if !frameKey(key) {
			return fmt.Errorf("invalid frame: unknown field %q", truncate(key, 32))
		}
		if seen[key] {
			return fmt.Errorf("invalid frame: field %q appears twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("invalid frame: %w", err)
		}
	}
	return nil
}

func isNull(m json.RawMessage) bool { return string(m) == "null" }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
