-- The capture trigger fires on INSERT only: updates and deletes leave no trace.
-- include: base
-- include: audit-base
-- expect: tenant-table-not-audited public.notes
-- leak: DELETE FROM notes WHERE id = 1; SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM audit_log WHERE entity = 'notes'
CREATE FUNCTION capture_notes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO audit_log (tenant_id, actor, action, entity, old_value, new_value)
  VALUES (NEW.tenant_id, current_setting('app.current_actor', true), TG_OP, TG_TABLE_NAME, NULL, to_jsonb(NEW));
  RETURN NULL;
END $$;
ALTER FUNCTION capture_notes() OWNER TO app_owner;
CREATE TRIGGER audit_capture AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION capture_notes();
