package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Relays between replicas. The replica downloading a blob holds its lease
// under a holder naming the address other replicas reach it at (SetPeer);
// a replica whose clients want the same blob asks that address for the
// download (GET PeerPath, signed with the HTTP secret every replica
// shares) and its clients stream what arrives, through an unlinked spill,
// instead of waiting for the download to be stored. The peer answers with
// the flight's own stream, so the last byte still comes only once the
// digest was verified. Whatever goes wrong before the first byte, the
// replica waits for the lease as before; after it, its clients see their
// answer cut short.

// PeerPath is where a replica answers another's request for a download in
// flight.
const PeerPath = "/internal/berth/proxy/flight"

const peerHeader = "X-Berth-Peer"

// SetPeer tells the cache the address (http[s]://host:port) other replicas
// reach this one at; "" turns relays to this replica off.
func (s *Service) SetPeer(addr string) {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	s.peerURL = strings.TrimRight(addr, "/")
}

// holder is this replica in a blob flight's lease: its owner id and, after
// a space, its peer address.
func (s *Service) holder() string {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	if s.peerURL == "" || s.secret == "" {
		return s.owner
	}
	return s.owner + " " + s.peerURL
}

// peerOf is the peer address in a lease holder ("" none).
func peerOf(holder string) string {
	_, addr, ok := strings.Cut(holder, " ")
	if !ok || !(strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://")) {
		return ""
	}
	return addr
}

// peerMAC signs a relay request for repo's blob dgst, valid until exp
// (unix seconds).
func (s *Service) peerMAC(repo string, dgst digest.Digest, exp string) string {
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write([]byte("berth proxy relay\x00" + repo + "@" + dgst.String() + "\x00" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// peerTTL is how long a signed relay request stays valid.
const peerTTL = time.Minute

// ServePeer answers a relay request (PeerPath) from another replica and
// reports whether r was one. Anything but a correctly signed request for
// a download in flight here is 404.
func (s *Service) ServePeer(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != PeerPath {
		return false
	}
	q := r.URL.Query()
	repo, exp := q.Get("repo"), q.Get("exp")
	dgst, err := digest.Parse(q.Get("digest"))
	until, perr := strconv.ParseInt(exp, 10, 64)
	if err != nil || perr != nil || time.Now().Unix() > until || s.secret == "" || r.Method != http.MethodGet ||
		!hmac.Equal([]byte(r.Header.Get(peerHeader)), []byte(s.peerMAC(repo, dgst, exp))) {
		http.NotFound(w, r)
		return true
	}
	s.fmu.Lock()
	f := s.m[repo+"@"+dgst.String()]
	s.fmu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return true
	}
	ctx := r.Context()
	select {
	case <-f.started:
	case <-ctx.Done():
		return true
	}
	if local, err := f.join(); local || err != nil {
		http.NotFound(w, r) // over: the other replica finds it stored, or retries
		return true
	}
	if n := f.contentLength(); n != "" {
		w.Header().Set("Content-Length", n)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if err := f.stream(ctx, w); err != nil {
		panic(http.ErrAbortHandler) // the other replica sees a broken answer, never a short one
	}
	return true
}

// relay streams the download another replica runs (the lease's holder) to
// this flight's readers. relayed false: there was nothing to relay (no
// address in the lease, the peer has no such flight any more, or it cannot
// be reached); the caller keeps waiting for the lease. An error after
// readers started ends their answers.
func (s *Service) relay(ctx context.Context, f *flight, lease, repo string, dgst digest.Digest, start func()) (relayed bool, err error) {
	holder, err := s.db.LeaseHolder(ctx, lease)
	peer := peerOf(holder)
	if err != nil || peer == "" || holder == s.holder() || s.secret == "" {
		return false, nil
	}
	exp := strconv.FormatInt(time.Now().Add(peerTTL).Unix(), 10)
	u := peer + PeerPath + "?" + url.Values{"repo": {repo}, "digest": {dgst.String()}, "exp": {exp}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, nil
	}
	req.Header.Set(peerHeader, s.peerMAC(repo, dgst, exp))
	resp, err := s.peers.Do(req)
	if err != nil {
		s.log.DebugContext(ctx, "proxy: no relay from the replica downloading the blob", "peer", peer, "digest", dgst, "err", err)
		return false, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	spill, err := s.spillFile()
	if err != nil {
		return false, nil
	}
	fw := &follower{f: f, spill: spill}
	f.mu.Lock()
	f.size, f.data = resp.ContentLength, spill
	f.mu.Unlock()
	start()
	s.log.DebugContext(ctx, "proxy: relaying another replica's download", "peer", peer, "repository", repo, "digest", dgst)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	n, err := io.CopyBuffer(fw, resp.Body, *bp)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return true, fmt.Errorf("relaying the download of replica %s after %d bytes: %w", peer, n, err)
	}
	relays.Inc(1)
	f.release()
	return true, nil
}
