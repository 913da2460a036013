package retention

import "time"

// SetGiveWayMost sets how long at most rn's runs wait for requests before
// each write transaction (tests: to see a run wait for as long as one is in
// flight).
func SetGiveWayMost(rn *Runner, d time.Duration) { rn.giveWayMost = d }

// SetLanes sets how many repositories rn's runs walk at once on PostgreSQL
// (tests: to walk with several lanes whatever the machine's cores).
func SetLanes(rn *Runner, n int) { rn.lanes = n }

// PGLanes is pgLanes, for its test.
var PGLanes = pgLanes
