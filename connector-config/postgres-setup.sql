-- What Debezium needs in the legacy database, created once by a DBA (the compose stack runs it as an
-- init script). Nothing here touches the legacy tables' data or columns; it sets the replica identity of three
-- of them (a brief lock, see below) and grants SELECT on the tables it publishes, nothing else.

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

-- Heartbeats: heartbeat.action.query writes here, so the slot advances even when the captured tables
-- are quiet and other databases on the server produce WAL (otherwise the slot pins WAL on disk).
-- Its INSERT … ON CONFLICT (id) DO UPDATE needs SELECT too: without it PostgreSQL refuses the upsert.
CREATE TABLE IF NOT EXISTS public.debezium_heartbeat (id INT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL);
GRANT INSERT, UPDATE, SELECT ON public.debezium_heartbeat TO cdc;

-- Signals: insert a row to ask for an ad-hoc (incremental) snapshot, e.g.
--   INSERT INTO public.debezium_signal VALUES (gen_random_uuid()::text, 'execute-snapshot',
--     '{"data-collections": ["public.tb_ord_mst"], "type": "incremental"}');
CREATE TABLE IF NOT EXISTS public.debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048));
GRANT INSERT, SELECT, DELETE ON public.debezium_signal TO cdc;

-- Replica identity, before the tables are published: PostgreSQL refuses UPDATE and DELETE on a published table
-- without one, so publishing first would fail the application's updates of tb_aud_log until this step ran.
-- The audit log has no primary key: FULL logs the whole old row (the legacy app only inserts into it).
-- The sample rules see a status change (P -> S, P -> C) by comparing the old and the new row, and
-- tb_cust_mst's address rule compares old and new address: both need the whole old row.
-- ALTER TABLE … REPLICA IDENTITY rewrites nothing but takes an ACCESS EXCLUSIVE lock: it waits for every open
-- transaction that touched the table, and the application's queries of it wait behind it. So a table already FULL
-- is left alone (running the script again takes no such lock), and lock_timeout ends the wait after 5 s with
-- "canceling statement due to lock timeout", nothing changed and nothing published yet: run the script again once
-- the long transaction has ended. From then on each UPDATE and DELETE of these tables writes the whole old row to the WAL.
SET lock_timeout = '5s';
DO $$
DECLARE
  t regclass;
BEGIN
  FOREACH t IN ARRAY ARRAY['public.tb_aud_log', 'public.tb_ord_mst', 'public.tb_cust_mst']::regclass[] LOOP
    IF (SELECT relreplident FROM pg_class WHERE oid = t) <> 'f' THEN
      EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', t);
    END IF;
  END LOOP;
END $$;
RESET lock_timeout;

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
    -- publish_via_partition_root: a partitioned table's changes arrive under its own name, the one table.include.list
    -- names (without it, under each partition's name, which the connector does not capture); no effect on other tables.
    CREATE PUBLICATION debezium_legacy_pub WITH (publish_via_partition_root = true);  -- PostgreSQL 15 has no CREATE PUBLICATION IF NOT EXISTS
  END IF;
END $$;
-- A table in another schema, or with capitals in its name, is written quoted: "Sales"."OrderLines".
ALTER PUBLICATION debezium_legacy_pub SET TABLE public.tb_cust_mst, public.tb_ord_mst, public.tb_ord_dtl, public.tb_aud_log, public.debezium_heartbeat, public.debezium_signal;

-- SELECT (the initial and incremental snapshots read the captured tables) on exactly the tables the publication
-- names, and USAGE on their schemas: no other table of the database. A table taken out of the list keeps its
-- grant: REVOKE SELECT ON … FROM cdc;
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT pr.prrelid::regclass AS tab, n.nspname
           FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
           JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE p.pubname = 'debezium_legacy_pub' LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO cdc', r.nspname);
    EXECUTE format('GRANT SELECT ON %s TO cdc', r.tab);
  END LOOP;
END $$;
