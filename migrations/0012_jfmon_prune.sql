-- What `jfmon prune` deleted, one row per batch, written in the same
-- transaction as the batch's DELETE (never by the platform). With --archive,
-- `archive` names the batch's compressed CSV and `sha256` its checksum: an
-- archive file without a row here belongs to a batch that never committed
-- (its rows are still in the raw table) and is removed by the next run, so a
-- kill at any point neither loses nor double-archives rows.
CREATE TABLE IF NOT EXISTS jfmon_prune_batches (
    source    text        NOT NULL, -- the raw table pruned
    lo        bigint      NOT NULL, -- ids in (lo, hi]
    hi        bigint      NOT NULL,
    rows      bigint      NOT NULL,
    cutoff    timestamptz NOT NULL, -- rows older than this were deleted
    archive   text,                 -- archive file path (NULL without --archive)
    sha256    text,                 -- of the archive file
    pruned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, lo, hi, pruned_at)
);
CREATE INDEX IF NOT EXISTS jfmon_prune_batches_archive_idx
    ON jfmon_prune_batches (archive) WHERE archive IS NOT NULL;
