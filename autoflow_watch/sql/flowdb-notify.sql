-- autoflow-watch: tell listening daemons at once when FlowETL records an ingested day.
--
-- Optional. Without it autoflow-watch's [flowdb] source polls etl.etl_records every
-- poll_interval; with it (and `listen = true`) a new day's runs start within a second or two
-- of FlowETL's commit. Install it as a role that owns etl.etl_records (FlowDB's `flowdb`):
--
--     autoflow-watch flowdb-sql | psql "postgresql://flowdb@flowdb.example.org:5432/flowdb"
--
-- Running it again replaces both objects (it is idempotent). To remove them:
--
--     DROP TRIGGER IF EXISTS autoflow_watch_notify ON etl.etl_records;
--     DROP FUNCTION IF EXISTS etl.autoflow_watch_notify();
--
-- The notification goes out when the inserting transaction commits, on channel
-- `autoflow_watch_flowdb`, with a JSON payload {"cdr_type": ..., "cdr_date": "YYYY-MM-DD"}.
-- The daemon takes it as a prompt only: it then reads etl.etl_records itself, so a NOTIFY
-- sent by anyone else on that channel can never invent a date. The function runs with the
-- rights of whoever inserts (FlowETL); pg_notify needs no privilege.

BEGIN;

CREATE OR REPLACE FUNCTION etl.autoflow_watch_notify() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM pg_notify(
        'autoflow_watch_flowdb',
        json_build_object('cdr_type', NEW.cdr_type, 'cdr_date', NEW.cdr_date)::text
    );
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS autoflow_watch_notify ON etl.etl_records;

CREATE TRIGGER autoflow_watch_notify
    AFTER INSERT OR UPDATE ON etl.etl_records
    FOR EACH ROW
    WHEN (NEW.state = 'ingested')
    EXECUTE FUNCTION etl.autoflow_watch_notify();

COMMIT;
