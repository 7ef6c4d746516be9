//go:build !linux

package chstore

// stageInMemory is only available on Linux (memfd); elsewhere batches are
// staged on disk.
func stageInMemory([][]byte) (path string, release func(), ok bool, err error) {
	return "", nil, false, nil
}
