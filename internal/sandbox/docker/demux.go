//go:build !gatehouse_omit_docker

package docker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// demux copies a multiplexed exec stream (8-byte frame headers: stream,
// three zero bytes, big-endian length) to w, stdout and stderr alike, in
// the order written. drop, when set, discards stderr frames it matches.
func demux(w io.Writer, r io.Reader, drop func([]byte) bool) error {
	var hdr [8]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		switch hdr[0] {
		case 1, 2: // stdout, stderr
		case 3: // the engine's own error (Docker: "systemerr")
			return fmt.Errorf("engine: %s", bytes.TrimSpace(buf))
		default:
			continue
		}
		if hdr[0] == 2 && drop != nil && drop(buf) {
			continue
		}
		w.Write(buf)
	}
}

// podmanStdinNoise is what Podman 4 writes to an exec's stderr when the
// command ended without reading all of its standard input
// (containers/podman#4460 and its kin): engine noise, not the command's.
var podmanStdinNoise = regexp.MustCompile(`^Error: read unixpacket @->\S*/attach: read: connection reset by peer\n?$`)
