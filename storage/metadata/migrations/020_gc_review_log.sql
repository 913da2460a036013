-- Reviews of blobs and links that deletes queue (a retention run queues two
-- for every manifest it removes), appended in the order queued. gc_reviews
-- is keyed by digest, so each of its inserts lands at a random place in its
-- index: a million pending reviews made every insert read and write a page
-- of its own, and a run removing a million tags slowed as the queue grew.
-- A collector's pass first moves the due ones into gc_reviews
-- (FoldReviews). The log's rows are not unique: the fold keeps the latest.
CREATE TABLE gc_review_log (
    id {{id}},
    kind TEXT NOT NULL,
    repository {{text}} NOT NULL,
    digest {{text}} NOT NULL,
    queued_at BIGINT NOT NULL
);
