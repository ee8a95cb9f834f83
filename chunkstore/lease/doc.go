// Package lease is the protocol by which garbage collection deletes what
// no narinfo reaches while other processes write: the sessions writers
// announce and renew under a lease, the condemned list, and what each side
// must do while a list stands. Package gc decides what to condemn and what
// to sweep (see its documentation for the whole collection); this package
// holds the rules both sides follow, so that they are written once.
//
// # Objects
//
//	sessions/<id>  a running process's announcement (SessionInfo, JSON),
//	               renewed every heartbeat; its age is the backend's modtime
//	gc/condemned   the condemned list (Condemned): packs and manifests a
//	               collection means to delete, under a fresh id
//
// # The writer's side (Writer, Session; chunkstore.Store uses them)
//
//   - Announce a Session for the life of any process that stores chunks or
//     narinfos, first, then load the index and the condemned list: a
//     collection that misses the announcement wrote its list before that
//     load, which then sees it.
//   - Every heartbeat, reload the index and the list (Writer.Load) and renew
//     the announcement with the views — the ids of the condemned lists —
//     that the lookups and the operations in progress (Writer.Hold) honour.
//     A writer that loads a new list seals its open pack, so that its
//     operations holding the old view can finish.
//   - While a list stands: never deduplicate against a condemned pack
//     (Writer.Avoid; the chunk is stored again, in a pack of a fresh id),
//     and neither link a narinfo to a condemned manifest nor write one
//     (Writer.IsCondemned): wait until the list is gone
//     (chunkstore.Store.WaitUncondemned).
//   - A writer that could not renew for half its lease makes no new
//     references (Writer.CheckLease), so that it is never taken for dead
//     while it can still write.
//
// # The collection's side (Collector; package gc drives it)
//
//   - Run alone: refuse to start while another collection's session is
//     live (Collector.Alone). Age objects by the backend's clock
//     (Collector.Now), never the local one.
//   - Condemn: write the list (Collector.Condemn), deleting nothing.
//   - Wait until every live session announces the list's id alone
//     (Collector.Wait). A session whose announcement is older than its
//     lease is dead, and so is one of this machine's current boot whose
//     process is gone (SessionInfo.Stale): its announcement is removed.
//   - Sweep what is still dead, then delete the list (Collector.Finish).
//     A collection killed at any point before that leaves the list for
//     the next one to finish.
package lease
