package rpc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeFrame(t *testing.T) {
	long := strings.Repeat("a", MaxIDLen+1)
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"request", `{"type":"req","id":"1","method":"status","params":{"a":1}}`, false},
		{"request_without_params", `{"type":"req","id":"1","method":"logs.tail"}`, false},
		{"request_null_params", `{"type":"req","id":"1","method":"health","params":null}`, false},
		{"response_ok", `{"type":"res","id":"1","ok":true,"payload":{"x":1}}`, false},
		{"response_error", `{"type":"res","id":"1","ok":false,"error":{"code":"unauthorized","message":"no"}}`, false},
		{"event", `{"type":"event","event":"log","payload":{"line":"x"},"seq":3}`, false},
		{"empty", ``, true},
		{"not_object", `[]`, true},
		{"string", `"req"`, true},
		{"missing_type", `{"id":"1","method":"status"}`, true},
		{"unknown_type", `{"type":"ping","id":"1"}`, true},
		{"unknown_field", `{"type":"req","id":"1","method":"status","extra":1}`, true},
		{"key_case", `{"TYPE":"req","id":"1","method":"status"}`, true},
		{"duplicate_key", `{"type":"req","id":"1","id":"2","method":"status"}`, true},
		{"trailing_data", `{"type":"req","id":"1","method":"status"} {}`, true},
		{"request_without_id", `{"type":"req","method":"status"}`, true},
		{"request_long_id", `{"type":"req","id":"` + long + `","method":"status"}`, true},
		{"request_without_method", `{"type":"req","id":"1"}`, true},
		{"request_uppercase_method", `{"type":"req","id":"1","method":"Status"}`, true},
		{"request_method_slash", `{"type":"req","id":"1","method":"../x"}`, true},
		{"request_long_method", `{"type":"req","id":"1","method":"` + strings.Repeat("m", MaxNameLen+1) + `"}`, true},
		{"request_max_method", `{"type":"req","id":"1","method":"` + strings.Repeat("m", MaxNameLen) + `"}`, false},
		{"request_array_params", `{"type":"req","id":"1","method":"status","params":[1]}`, true},
		{"request_with_ok", `{"type":"req","id":"1","method":"status","ok":true}`, true},
		{"response_without_ok", `{"type":"res","id":"1","payload":{}}`, true},
		{"response_without_id", `{"type":"res","ok":true}`, true},
		{"response_failed_without_error", `{"type":"res","id":"1","ok":false}`, true},
		{"response_ok_with_error", `{"type":"res","id":"1","ok":true,"error":{"code":"x","message":"y"}}`, true},
		{"response_error_unknown_field", `{"type":"res","id":"1","ok":false,"error":{"code":"x","message":"y","stack":"z"}}`, true},
		{"response_with_method", `{"type":"res","id":"1","ok":true,"method":"status"}`, true},
		{"event_without_name", `{"type":"event","payload":{}}`, true},
		{"event_with_id", `{"type":"event","event":"log","id":"1"}`, true},
		{"negative_seq", `{"type":"event","event":"log","seq":-1}`, true},
		{"bad_json", `{"type":"req",`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFrame([]byte(tt.in))
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("DecodeFrame(%s) error = %v, want error: %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestDecodeFrameFields(t *testing.T) {
	f, err := DecodeFrame([]byte(`{"type":"res","id":"7","ok":false,"error":{"code":"unknown_method","message":"no such method"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != "7" || f.OK == nil || *f.OK || f.Error == nil || f.Error.Code != CodeUnknownMethod {
		t.Errorf("DecodeFrame = %+v, want res 7 failed with unknown_method", f)
	}
}

func TestFrameEncoding(t *testing.T) {
	ok := true
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{"request", Frame{Type: TypeRequest, ID: "1", Method: "status", Params: json.RawMessage(`{}`)}, `{"type":"req","id":"1","method":"status","params":{}}`},
		{"response", Frame{Type: TypeResponse, ID: "1", OK: &ok, Payload: json.RawMessage(`{"a":1}`)}, `{"type":"res","id":"1","ok":true,"payload":{"a":1}}`},
		{"event", Frame{Type: TypeEvent, Event: "log", Payload: json.RawMessage(`{}`), Seq: 3}, `{"type":"event","event":"log","payload":{},"seq":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestProof(t *testing.T) {
	// RFC 4231-style known answer: HMAC-SHA256("key", "The quick brown fox …").
	got := Proof("key", "The quick brown fox jumps over the lazy dog")
	want := "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got != want {
		t.Errorf("Proof = %s, want %s", got, want)
	}
}

func TestConnectAuthNeverPrintsSecrets(t *testing.T) {
	a := ConnectAuth{Token: "s3cret-token"}
	for _, got := range []string{a.String(), a.LogValue().String()} {
		if strings.Contains(got, "s3cret") {
			t.Errorf("ConnectAuth printed %q, want no token", got)
		}
	}
}

// FuzzDecodeFrame checks that DecodeFrame never panics, and that a frame it
// accepts survives encoding: decode(encode(f)) succeeds and encodes the same.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"type":"req","id":"1","method":"status","params":{}}`))
	f.Add([]byte(`{"type":"res","id":"1","ok":false,"error":{"code":"unauthorized","message":"no"}}`))
	f.Add([]byte(`{"type":"event","event":"log","payload":{"line":"x"},"seq":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		enc, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", fr, err)
		}
		fr2, err := DecodeFrame(enc)
		if err != nil {
			t.Fatalf("DecodeFrame(%s) after encoding: %v", enc, err)
		}
		enc2, err := json.Marshal(fr2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Errorf("re-encoded %s, want %s", enc2, enc)
		}
	})
}
