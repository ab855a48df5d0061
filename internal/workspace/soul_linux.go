package workspace

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fsImmutableFL is FS_IMMUTABLE_FL from linux/fs.h, the "i" of chattr(1).
const fsImmutableFL = 0x00000010

// isImmutable reports whether f has the immutable attribute.
func isImmutable(f *os.File) bool {
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &st); err != nil {
		return false
	}
	return st.Attributes_mask&unix.STATX_ATTR_IMMUTABLE != 0 && st.Attributes&unix.STATX_ATTR_IMMUTABLE != 0
}

// setImmutable sets or clears f's immutable attribute, as chattr +i / -i
// do. Setting it needs CAP_LINUX_IMMUTABLE. Clearing an attribute that is
// not set, on a file system without attributes, succeeds.
func setImmutable(f *os.File, on bool) error {
	fd := int(f.Fd())
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		if !on && (errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
			return nil
		}
		return err
	}
	want := flags &^ fsImmutableFL
	if on {
		want = flags | fsImmutableFL
	}
	if want == flags {
		return nil
	}
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(want))
}
