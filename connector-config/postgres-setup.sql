-- What Debezium needs in the legacy database, created once by a DBA (the compose stack runs it as an
-- init script). Nothing here touches the legacy tables' data or structure.

-- A login role for the connector: REPLICATION to stream the WAL, SELECT for the initial snapshot.
-- 'cdc' is a laptop default: set your own with ALTER ROLE cdc PASSWORD '…' (the compose stack's
-- cdc-password.sh sets it from CDC_DB_PASSWORD, the same variable Kafka Connect reads).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cdc') THEN
    CREATE ROLE cdc WITH LOGIN REPLICATION PASSWORD 'cdc';
  END IF;
END $$;
GRANT CONNECT ON DATABASE legacy TO cdc;
GRANT USAGE ON SCHEMA public TO cdc;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO cdc;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO cdc;

-- Heartbeats: heartbeat.action.query writes here, so the slot advances even when the captured tables
-- are quiet and other databases on the server produce WAL (otherwise the slot pins WAL on disk).
CREATE TABLE IF NOT EXISTS public.debezium_heartbeat (id INT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL);
GRANT INSERT, UPDATE, SELECT ON public.debezium_heartbeat TO cdc;

-- Signals: insert a row to ask for an ad-hoc (incremental) snapshot, e.g.
--   INSERT INTO public.debezium_signal VALUES (gen_random_uuid()::text, 'execute-snapshot',
--     '{"data-collections": ["public.tb_ord_mst"], "type": "incremental"}');
CREATE TABLE IF NOT EXISTS public.debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048));
GRANT INSERT, SELECT, DELETE ON public.debezium_signal TO cdc;

-- After the heartbeat and signal tables: the publication lists them, and a table it lists must
-- exist. The signal table must be published: Debezium reads signals (and an incremental snapshot's
-- open/close watermarks, which it writes there itself) from the change stream, and pgoutput streams only
-- published tables. Debezium adds it to its own table filter; table.include.list need not name it.
-- The publication, created here so the connector's role needs no ownership of the legacy tables
-- (with publication.autocreate.mode=filtered Debezium would create it itself, which requires owning them).
-- Run again (e.g. after adding a table), it changes the table list of the publication in place and never drops it:
-- a slot that reads it (Debezium's) decodes each change with the publications as they were when it was written, and
-- one written while the publication was dropped stops the slot for good (pgoutput: publication "…" does not exist).
-- One table list: keep it equal to source.kafka.debezium.tables (`cdcpipeline connector render` prints it).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'debezium_legacy_pub') THEN
    CREATE PUBLICATION debezium_legacy_pub;  -- PostgreSQL 15 has no CREATE PUBLICATION IF NOT EXISTS
  END IF;
END $$;
ALTER PUBLICATION debezium_legacy_pub SET TABLE public.tb_cust_mst, public.tb_ord_mst, public.tb_ord_dtl, public.tb_aud_log, public.debezium_heartbeat, public.debezium_signal;

-- The audit log has no primary key: without a replica identity PostgreSQL refuses UPDATE/DELETE on a
-- published table. FULL logs the whole old row (the legacy app only inserts into it).
ALTER TABLE public.tb_aud_log REPLICA IDENTITY FULL;
-- The sample rules see a status change (P -> S, P -> C) by comparing the old and the new row, and
-- tb_cust_mst's address rule compares old and new address: both need the whole old row.
ALTER TABLE public.tb_ord_mst REPLICA IDENTITY FULL;
ALTER TABLE public.tb_cust_mst REPLICA IDENTITY FULL;
