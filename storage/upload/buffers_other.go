//go:build !linux

package upload

func allocBuffer() []byte { return *newAligned(bufSize) }

func freeBuffer([]byte) {}
