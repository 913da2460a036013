package domain

import (
	"crypto/sha256"
	"encoding/hex"
)

// AccountID is the stable id of the account a project belongs to (its
// creator), where a dialect shows one (SWR's domain_id, 32 hex digits in
// its example "0503dda878000fed0f75c0096d70a960"): derived from the
// account's name, which never changes, so it is the same on every replica
// and in every answer, without showing the name itself.
func AccountID(account string) string {
	sum := sha256.Sum256([]byte("berth account\x00" + account))
	return hex.EncodeToString(sum[:16])
}
