//go:build !gatehouse_omit_docker

// Package dockertest gives tests a docker sandbox on a real engine: the
// one DOCKER_HOST names (test/peers/podman.sh starts Podman's), with a
// busybox image built from scratch, since no registry is reachable. Tests
// skip when no engine answers, and fail instead when
// GATEHOUSE_TEST_REQUIRE_DOCKER=1 (as in CI). Only tests import it.
package dockertest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/docker"
)

// Image is the test image: busybox-static on an empty root. Its tag is
// fixed so that test packages share it; it is built when missing.
const Image = "gatehouse-sandbox-test:busybox"

// Busybox is where Debian's busybox-static package installs busybox.
const Busybox = "/bin/busybox"

// RequireEnv makes a missing engine a failure rather than a skip.
const RequireEnv = "GATEHOUSE_TEST_REQUIRE_DOCKER"

// dockerfile builds Image. RUN needs the engine's runtime, which is what
// the tests exercise anyway.
const dockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
WORKDIR /workspace
`

// Options are the defaults of the configuration, with Image, a fresh
// workspace and a fresh state directory.
func Options(t testing.TB, access string) sandbox.Options {
	t.Helper()
	c := config.Default().Agents.Defaults.Sandbox
	c.WorkspaceAccess = access
	c.Docker.Image = Image
	return sandbox.OptionsFrom(c, t.TempDir(), t.TempDir())
}

// New returns a docker sandbox made from opts (Image when opts names no
// image), with Image built if the engine lacks it. It skips t when no
// engine answers, unless GATEHOUSE_TEST_REQUIRE_DOCKER=1. Cleanup removes
// the sandbox's containers and closes it.
func New(t testing.TB, opts sandbox.Options) *docker.Sandbox {
	t.Helper()
	if opts.Docker.Image == "" {
		opts.Docker.Image = Image
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb, err := docker.New(ctx, opts)
	if errors.Is(err, sandbox.ErrUnavailable) {
		Unavailable(t, err)
	}
	if err != nil {
		t.Fatalf("docker.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := sb.Prune(ctx, -time.Hour); err != nil {
			t.Errorf("remove test containers: %v", err)
		}
		sb.Close()
	})
	EnsureImage(t, sb)
	return sb
}

// Unavailable skips t because no engine answered (err says why), or fails
// it under GATEHOUSE_TEST_REQUIRE_DOCKER=1.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s=1 but no container engine: %v (start one: eval \"$(test/peers/podman.sh start DIR)\")", RequireEnv, err)
	}
	t.Skipf("no container engine (start one: eval \"$(test/peers/podman.sh start DIR)\"): %v", err)
}

// EnsureImage builds Image with sb when the engine does not have it.
func EnsureImage(t testing.TB, sb *docker.Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ok, err := sb.HasImage(ctx, Image)
	if err != nil {
		t.Fatalf("inspect image %s: %v", Image, err)
	}
	if ok {
		return
	}
	bb, err := staticBusybox()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var out bytes.Buffer
	err = sb.Build(ctx, &out, docker.BuildOptions{
		Tag:        Image,
		Dockerfile: []byte(dockerfile),
		Files:      map[string]docker.BuildFile{"busybox": {Data: bb, Mode: 0o755}},
	})
	if err != nil {
		t.Fatalf("build %s: %v\n%s", Image, err, out.Bytes())
	}
}

// staticBusybox reads Busybox and checks that it needs no dynamic loader,
// since the image has none.
func staticBusybox() ([]byte, error) {
	const hint = "; install it: apt-get install -y busybox-static"
	f, err := elf.Open(Busybox)
	if err != nil {
		return nil, errors.New("read " + Busybox + ": " + err.Error() + hint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, errors.New(Busybox + " is dynamically linked" + hint)
		}
	}
	return os.ReadFile(Busybox)
}
