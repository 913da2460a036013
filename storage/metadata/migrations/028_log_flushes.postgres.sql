-- A row the garbage collector adds, committing synchronously, before it
-- deletes a blob's data: the flush of that commit takes every earlier
-- commit with it, the asynchronous ones included (logflush.go). Each
-- flush has a row of its own, so collectors never wait for each other
-- there, and takes away the rows a minute old.
CREATE TABLE log_flushes (
    id {{id}},
    at BIGINT NOT NULL
);
