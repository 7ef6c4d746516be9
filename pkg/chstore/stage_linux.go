package chstore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// stageInMemory writes a batch to an anonymous in-memory file (memfd) that
// the engine, in this process, reads by its /proc/self/fd path. No directory
// entry or disk inode is made: on a busy ext4 file system, creating and
// deleting a file per insert cost more than writing its bytes. ok is false
// when memfd is unavailable (old kernel, seccomp, no /proc); the caller then
// stages on disk.
func stageInMemory(parts [][]byte) (path string, release func(), ok bool, err error) {
	fd, err := unix.MemfdCreate("throughline-batch", unix.MFD_CLOEXEC)
	if err != nil {
		return "", nil, false, nil
	}
	f := os.NewFile(uintptr(fd), "throughline-batch")
	path = fmt.Sprintf("/proc/self/fd/%d", fd)
	if _, err := os.Stat(path); err != nil {
		f.Close()
		return "", nil, false, nil
	}
	for _, p := range parts {
		if _, err := f.Write(p); err != nil {
			f.Close()
			return "", nil, true, err
		}
	}
	return path, func() { f.Close() }, true, nil
}
