//go:build !unix

package main

// privateFiles: outside Unix, file permissions come from the directory's ACL.
func privateFiles() {}
