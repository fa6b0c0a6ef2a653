-- Every change the app can make to notes goes into the log in the same transaction, through
-- a record() helper the trigger calls.
-- include: base
-- include: audit-base
-- forbid: tenant-table-not-audited
-- clean
-- isolated: UPDATE notes SET body = 'recorded' WHERE id = 1; SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM audit_log WHERE entity = 'notes'
-- isolated: DELETE FROM notes WHERE id = 1; SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM audit_log WHERE entity = 'notes' AND action = 'DELETE'
CREATE FUNCTION record_change(t uuid, action text, entity text, old jsonb, new jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
AS $$ INSERT INTO audit_log (tenant_id, actor, action, entity, old_value, new_value) VALUES (t, current_setting('app.current_actor', true), action, entity, old, new) $$;
ALTER FUNCTION record_change(uuid, text, text, jsonb, jsonb) OWNER TO app_owner;
REVOKE ALL ON FUNCTION record_change(uuid, text, text, jsonb, jsonb) FROM PUBLIC;
CREATE FUNCTION capture_notes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM record_change(OLD.tenant_id, TG_OP, TG_TABLE_NAME, to_jsonb(OLD), NULL);
  ELSE
    PERFORM record_change(NEW.tenant_id, TG_OP, TG_TABLE_NAME, CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END, to_jsonb(NEW));
  END IF;
  RETURN NULL;
END $$;
ALTER FUNCTION capture_notes() OWNER TO app_owner;
REVOKE ALL ON FUNCTION capture_notes() FROM PUBLIC;
CREATE TRIGGER audit_capture AFTER INSERT OR UPDATE OR DELETE ON notes FOR EACH ROW EXECUTE FUNCTION capture_notes();
