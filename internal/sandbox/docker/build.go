//go:build !gatehouse_omit_docker

package docker

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// dockerfile builds DefaultImage.
//
//go:embed Dockerfile
var dockerfile []byte

// Build builds an image through the engine's /build endpoint, from the
// Dockerfile embedded in the binary (or opts.Dockerfile), and writes the
// engine's progress lines to w. Build steps get no network.
func (s *Sandbox) Build(ctx context.Context, w io.Writer, opts BuildOptions) error {
	tag := cmp.Or(opts.Tag, DefaultImage)
	df := dockerfile
	if opts.Dockerfile != nil {
		df = opts.Dockerfile
	}
	buildCtx, err := buildContext(df, opts.Files)
	if err != nil {
		return err
	}
	base := cmp.Or(opts.Base, DefaultBase)
	res, err := s.cli.ImageBuild(ctx, bytes.NewReader(buildCtx), client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		BuildArgs:   map[string]*string{"BASE": &base},
		NoCache:     opts.NoCache,
		Remove:      true,
		ForceRemove: true,
		NetworkMode: "none",
		Labels:      map[string]string{LabelSandbox: "1"},
	})
	if err != nil {
		return fmt.Errorf("build sandbox image %s on %s at %s: %w", tag, s.engine.name, s.host, err)
	}
	defer res.Body.Close()
	if err := streamBuild(w, res.Body); err != nil {
		return fmt.Errorf("build sandbox image %s: %w", tag, err)
	}
	// Some engines end a failed build without an error message.
	if _, err := s.cli.ImageInspect(ctx, tag); err != nil {
		return fmt.Errorf("build sandbox image %s: the engine reported no error but the image is not there: %w", tag, err)
	}
	return nil
}

// HasImage reports whether the engine has image tag.
func (s *Sandbox) HasImage(ctx context.Context, tag string) (bool, error) {
	_, err := s.cli.ImageInspect(ctx, cmp.Or(tag, DefaultImage))
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// buildContext is the tar archive the engine builds from.
func buildContext(df []byte, files map[string]BuildFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(0, 0)
	all := map[string]BuildFile{"Dockerfile": {Data: df}}
	for name, f := range files {
		name = strings.TrimPrefix(name, "./")
		if name == "Dockerfile" || !fs.ValidPath(name) {
			return nil, fmt.Errorf("build context file %q: want a relative slash-separated path other than Dockerfile", name)
		}
		all[name] = f
	}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		f := all[name]
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: name, Mode: int64(mode), Size: int64(len(f.Data)), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// streamBuild prints the engine's JSON message stream: the "stream" and
// "status" lines, and returns an "error" as an error.
func streamBuild(w io.Writer, r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			jsonstream.Message
			ErrorMessage string `json:"error,omitempty"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != nil && m.Error.Message != "" {
			return errors.New(strings.TrimSpace(m.Error.Message))
		}
		if m.ErrorMessage != "" {
			return errors.New(strings.TrimSpace(m.ErrorMessage))
		}
		switch {
		case m.Stream != "":
			io.WriteString(w, m.Stream)
		case m.Status != "":
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			fmt.Fprintln(w, line)
		}
	}
}
