//go:build !gatehouse_omit_docker

package docker

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

func frame(stream byte, s string) []byte {
	b := make([]byte, 8, 8+len(s))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(s)))
	return append(b, s...)
}

func TestDemux(t *testing.T) {
	noise := "Error: read unixpacket @->/proc/self/fd/16/attach: read: connection reset by peer\n"
	tests := []struct {
		name    string
		frames  [][]byte
		drop    bool
		want    string
		wantErr string
	}{
		{"interleaved", [][]byte{frame(1, "a"), frame(2, "b"), frame(1, "c")}, false, "abc", ""},
		{"empty", nil, false, "", ""},
		{"empty_frame", [][]byte{frame(1, ""), frame(1, "x")}, false, "x", ""},
		{"podman_noise_dropped", [][]byte{frame(1, "out\n"), frame(2, noise)}, true, "out\n", ""},
		{"podman_noise_kept_without_stdin", [][]byte{frame(2, noise)}, false, noise, ""},
		{"noise_on_stdout_kept", [][]byte{frame(1, noise)}, true, noise, ""},
		{"similar_stderr_kept", [][]byte{frame(2, "Error: something else\n")}, true, "Error: something else\n", ""},
		{"systemerr", [][]byte{frame(1, "x"), frame(3, "exec failed\n")}, false, "x", "engine: exec failed"},
		{"truncated_frame", [][]byte{frame(1, "abc")[:9]}, false, "", "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var drop func([]byte) bool
			if tt.drop {
				drop = podmanStdinNoise.Match
			}
			err := demux(&out, bytes.NewReader(bytes.Join(tt.frames, nil)), drop)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if out.String() != tt.want || !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (err == nil) {
				t.Errorf("got %q, %v; want %q, %q", out.String(), err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCheckUser(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", DefaultUser, false},
		{"1000:1000", "1000:1000", false},
		{"1000", "1000:1000", false},
		{"65534:100", "65534:100", false},
		{"root", "", true},
		{"root:root", "", true},
		{"0", "", true},
		{"0:0", "", true},
		{"0:1000", "", true},
		{"1000:0", "", true},
		{"00", "", true},
		{"nobody", "", true},
		{"1000:users", "", true},
		{"-1", "", true},
		{"4294967296", "", true},
	}
	for _, tt := range tests {
		got, err := checkUser(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("checkUser(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// Recorded from Docker Engine 27 (/build, classic builder).
const dockerBuildOK = `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":" ---\u003e \n"}
{"stream":"Step 2/2 : WORKDIR /workspace\n"}
{"stream":" ---\u003e Running in 1f2e\n"}
{"aux":{"ID":"sha256:0123"}}
{"stream":"Successfully built 0123\n"}
{"stream":"Successfully tagged gatehouse-sandbox:bookworm-slim\n"}
`

const dockerBuildPull = `{"status":"Pulling from library/debian","id":"bookworm-slim"}
{"status":"Pull complete","progressDetail":{},"id":"a1b2"}
`

const dockerBuildFail = `{"stream":"Step 1/2 : FROM scratch\n"}
{"errorDetail":{"message":"COPY failed: file not found in build context or excluded by .dockerignore: stat missing-file: file does not exist"},"error":"COPY failed: file not found in build context or excluded by .dockerignore: stat missing-file: file does not exist"}
`

func TestStreamBuild(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"ok", dockerBuildOK, "Step 1/2 : FROM scratch\n ---> \nStep 2/2 : WORKDIR /workspace\n ---> Running in 1f2e\nSuccessfully built 0123\nSuccessfully tagged gatehouse-sandbox:bookworm-slim\n", ""},
		{"status", dockerBuildPull, "bookworm-slim: Pulling from library/debian\na1b2: Pull complete\n", ""},
		{"error", dockerBuildFail, "Step 1/2 : FROM scratch\n", "COPY failed: file not found"},
		{"error_only_field", `{"error":"boom"}`, "", "boom"},
		{"garbage", `{"stream":"x"}not json`, "x", "read build output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := streamBuild(&out, strings.NewReader(tt.in))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if out.String() != tt.want || (tt.wantErr == "") != (err == nil) || !strings.Contains(gotErr, tt.wantErr) {
				t.Errorf("got %q, %v; want %q, %q", out.String(), err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestBuildContext(t *testing.T) {
	ctx, err := buildContext([]byte("FROM scratch\n"), map[string]BuildFile{
		"bin/tool": {Data: []byte("x"), Mode: 0o755},
		"./data":   {Data: []byte("yy")},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(ctx))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got = append(got, h.Name+" "+strings.TrimPrefix(h.FileInfo().Mode().String(), "-")+" "+string(b))
	}
	want := "Dockerfile rw-r--r-- FROM scratch\n|bin/tool rwxr-xr-x x|data rw-r--r-- yy"
	if strings.Join(got, "|") != want {
		t.Errorf("context %q, want %q", strings.Join(got, "|"), want)
	}
	for _, bad := range []string{"Dockerfile", "../x", "/abs", "a/../../b"} {
		if _, err := buildContext(nil, map[string]BuildFile{bad: {}}); err == nil {
			t.Errorf("file %q accepted", bad)
		}
	}
}

func TestEmbeddedDockerfile(t *testing.T) {
	for _, want := range []string{"ARG BASE=" + DefaultBase, "FROM ${BASE}", "WORKDIR /workspace"} {
		if !bytes.Contains(dockerfile, []byte(want)) {
			t.Errorf("embedded Dockerfile lacks %q", want)
		}
	}
}
