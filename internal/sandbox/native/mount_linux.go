package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"gatehouse/internal/sandbox"
)

// oldRoot is where the host's root sits while the new root is built.
const oldRoot = "/.oldroot"

// procReadOnly are the /proc files and directories made read-only on top
// of Landlock, because a sandbox user mapped to host uid 0 passes their
// owner checks.
var procReadOnly = []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"}

// buildRoot makes the sandbox's filesystem, as bubblewrap does: a tmpfs is
// mounted (on /tmp, in this private mount namespace) and made the root
// with pivot_root, which moves the host's root to /.oldroot, where the
// binds take their sources from; the host's root is then detached and the
// new root made read-only.
func buildRoot(sp *spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m,nr_inodes=4096"); err != nil {
		return fmt.Errorf("mounting the root tmpfs: %w", err)
	}
	if err := unix.Mkdir("/tmp"+oldRoot, 0o700); err != nil {
		return fmt.Errorf("making %s: %w", oldRoot, err)
	}
	if err := unix.PivotRoot("/tmp", "/tmp"+oldRoot); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}

	for _, l := range sp.Symlinks {
		if err := os.Symlink(l.Target, l.Path); err != nil {
			return fmt.Errorf("symlink %s: %w", l.Path, err)
		}
	}
	for _, b := range sp.Binds {
		if err := bindMount(b); err != nil {
			if b.Required {
				return err
			}
			os.Remove(b.Dst)
		}
	}

	// /proc of the sandbox's pid namespace. The kernel only allows it
	// while a full /proc is visible, so before the host's root goes.
	if err := mkdirMount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	for _, p := range procReadOnly {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s: %w", p, err)
		}
		if err := remount(p, true, false); err != nil {
			return err
		}
	}

	tmpfs := "mode=1777,size=" + strconv.FormatInt(sp.TmpfsBytes, 10)
	if err := mkdirMount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, tmpfs); err != nil {
		return err
	}
	if err := mkdirMount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, tmpfs); err != nil {
		return err
	}
	for name, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, name); err != nil {
			return fmt.Errorf("symlink %s: %w", name, err)
		}
	}
	for _, f := range sp.Files {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.Path, []byte(f.Data), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	if err := unix.Unmount(oldRoot, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host root: %w", err)
	}
	if err := unix.Rmdir(oldRoot); err != nil {
		return fmt.Errorf("removing %s: %w", oldRoot, err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making the root read-only: %w", err)
	}
	return nil
}

// mkdirMount makes target and mounts source there.
func mkdirMount(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mounting %s on %s: %w", fstype, target, err)
	}
	return nil
}

// bindMount binds b.Src (under the old root) on b.Dst and makes it
// read-only unless b.RW, nosuid, and nodev unless b.Dev.
func bindMount(b bind) error {
	if err := os.MkdirAll(filepath.Dir(b.Dst), 0o755); err != nil {
		return err
	}
	if b.File {
		if err := os.WriteFile(b.Dst, nil, 0o644); err != nil {
			return err
		}
	} else if err := os.Mkdir(b.Dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	src := oldRoot + b.Src
	err := unix.Mount(src, b.Dst, "", unix.MS_BIND, "")
	if errors.Is(err, unix.EINVAL) && !b.File && b.Dst != sandbox.WorkspaceMount {
		// The kernel refuses to bind a directory alone when host mounts
		// below it would be uncovered: take them along.
		err = unix.Mount(src, b.Dst, "", unix.MS_BIND|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("binding %s on %s: %w", b.Src, b.Dst, err)
	}
	return remount(b.Dst, !b.RW, b.Dev)
}

// remount sets the flags of the bind mount at path. Flags the kernel
// locked on the host's mount (noexec, and atime, which a remount keeps
// unless told otherwise) are kept, or the kernel would refuse.
func remount(path string, ro, dev bool) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID)
	if !dev {
		flags |= unix.MS_NODEV
	}
	if ro {
		flags |= unix.MS_RDONLY
	}
	if st.Flags&unix.ST_NOEXEC != 0 {
		flags |= unix.MS_NOEXEC
	}
	if st.Flags&unix.ST_NODEV != 0 {
		flags |= unix.MS_NODEV
	}
	if err := unix.Mount("", path, "", flags, ""); err != nil {
		if !ro && st.Flags&unix.ST_RDONLY != 0 {
			return fmt.Errorf("%s is on a read-only filesystem and cannot be mounted read-write: %w", path, err)
		}
		return fmt.Errorf("remounting %s: %w", path, err)
	}
	return nil
}
