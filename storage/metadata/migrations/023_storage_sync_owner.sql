-- A writer's storage sync rows, by writer. A retention run no longer waits
-- for the storage copies of what it removed: they wait here, millions of
-- rows of one live writer, until its drainer writes them. The search for
-- rows no live writer will finish reads the writers through this index (a
-- seek per writer) instead of scanning every row to check its writer.
CREATE INDEX storage_sync_owner ON storage_sync (owner, id);
