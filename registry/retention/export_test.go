package retention

import "time"

// SetGiveWayMost sets how long at most rn's runs wait for requests before
// each write transaction (tests: to see a run wait for as long as one is in
// flight).
func SetGiveWayMost(rn *Runner, d time.Duration) { rn.giveWayMost = d }
