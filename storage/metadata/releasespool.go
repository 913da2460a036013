package metadata

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// releaseSpool is a fold's keys, in order, in a temporary file.
type releaseSpool struct {
	f *os.File
	r *bufio.Reader
}

// spoolReleases writes the releases up to maxID whose key is after after,
// summed by key and in key order, to a temporary file (a million removals'
// log takes seconds to sort: the read is unbounded).
func (db *DB) spoolReleases(ctx context.Context, l foldLog, maxID int64, after release) (*releaseSpool, error) {
	f, err := os.CreateTemp("", "berth-blob-releases-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name()) // gone with the descriptor, whatever happens
	s := &releaseSpool{f: f}
	err = func() error {
		rows, err := db.sql.QueryContext(WithTimeout(ctx, 0), db.q(l.spool), append([]any{maxID}, l.after(after)...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		w := bufio.NewWriterSize(f, 1<<16)
		var buf []byte
		for rows.Next() {
			var r release
			if err := rows.Scan(&r.project, &r.digest, &r.n); err != nil {
				return err
			}
			buf = binary.AppendVarint(buf[:0], r.project)
			buf = binary.AppendVarint(buf, r.n)
			buf = binary.AppendUvarint(buf, uint64(len(r.digest)))
			buf = append(buf, r.digest...)
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_, err = f.Seek(0, io.SeekStart)
		return err
	}()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.r = bufio.NewReaderSize(f, 1<<16)
	return s, nil
}

// next is the spool's next key (io.EOF after the last).
func (s *releaseSpool) next() (release, error) {
	var r release
	var err error
	if r.project, err = binary.ReadVarint(s.r); err != nil {
		return r, err // io.EOF at the end
	}
	if r.n, err = binary.ReadVarint(s.r); err != nil {
		return r, io.ErrUnexpectedEOF
	}
	n, err := binary.ReadUvarint(s.r)
	if err != nil || n > 1024 {
		return r, fmt.Errorf("blob release spool: bad digest length %d (%v)", n, err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		return r, io.ErrUnexpectedEOF
	}
	r.digest = string(b)
	return r, nil
}

func (s *releaseSpool) close() { s.f.Close() }
