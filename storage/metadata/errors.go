package metadata

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"syscall"
)

// IsUnavailable reports whether err means the database could not be used
// right now (unreachable, shutting down, out of time, locked), as opposed
// to a refusal of the request itself: callers answer 503, and it never
// counts against the client (a failed login, say).
func IsUnavailable(err error) bool {
	if err == nil || IsFull(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{
		"failed to connect", "connection refused", "connection reset", "broken pipe", "conn closed",
		"unexpected EOF", "bad connection", "i/o timeout", "no such host",
		"SQLSTATE 08", "SQLSTATE 57P0", "SQLSTATE 53300", "SQLSTATE 58", // connection, shutdown, too many connections, I/O
		"database is locked", "SQLITE_BUSY", "disk I/O error", "unable to open database file", "attempt to write a readonly database",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// IsFull reports whether err is the database saying its disk is full
// (SQLite: SQLITE_FULL; PostgreSQL: disk_full, or a file it could not
// extend).
func IsFull(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"database or disk is full", "SQLITE_FULL", "SQLSTATE 53100", "could not extend file"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
