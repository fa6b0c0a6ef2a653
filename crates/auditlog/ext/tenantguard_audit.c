/*
 * tenantguard_audit: the audit log's capture trigger in C.
 *
 * `tenantguard scaffold audit-log --capture c` generates, per captured table,
 *
 *     CREATE FUNCTION audit.capture__public__invoices() RETURNS trigger
 *         LANGUAGE c SECURITY DEFINER AS 'tenantguard_audit', 'tg_capture';
 *     CREATE TRIGGER audit_capture AFTER INSERT OR UPDATE OR DELETE ON public.invoices
 *         FOR EACH ROW EXECUTE FUNCTION audit.capture__public__invoices('audit', 'public.invoices', 'tenant_id', 'id');
 *
 * with the trigger's arguments: the log's schema, the entity name, the tenant column and the
 * key column(s), baked in at generation time. It writes exactly the row the generated PL/pgSQL
 * capture function writes (same columns, same text for keys, tenant and jsonb, the actor from
 * app.current_actor, `at` = transaction start, txid = txid_current()), so the chain, the
 * sealer and verify cannot tell them apart (tests/capture_c.rs compares them).
 *
 * Why C: on the benchmark machine a row trigger's cost is dominated by PL/pgSQL entry and the
 * executor start-up of the INSERT it runs; this inserts the heap tuple and its index entries
 * directly into the right partition (docs/audit-log.md, Speed). It does not go through the
 * executor, so it skips what the log does not have: INSERT triggers, RLS and privilege checks
 * on the log (the function is the gate: EXECUTE is revoked from PUBLIC and the trigger exists
 * only where the migration put it).
 *
 * The writer takes its transaction id before it draws the row id: the sealer's floor relies
 * on it (seal_floor in log.sql).
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(tg_capture);

/* The log's columns this function fills; the others (seq, hashes, erased_at) stay NULL. */
enum
{
	C_ID, C_TENANT, C_ACTOR, C_ACTION, C_ENTITY, C_ENTITY_ID, C_OLD, C_NEW, C_AT, C_TXID, C_N
};
static const char *const log_columns[C_N] = {
	"id", "tenant_id", "actor", "action", "entity", "entity_id", "old_value", "new_value", "at", "txid"
};

/* Index of a live column by name, or -1. A name lookup in the tuple descriptor, not the catalog. */
static int
column_index(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return i;
	}
	return -1;
}

static int
required_column(TupleDesc desc, const char *name, const char *what)
{
	int			i = column_index(desc, name);

	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("tenantguard audit capture: %s column \"%s\" does not exist", what, name),
				 errhint("Regenerate the capture with tenantguard scaffold audit-log --capture c.")));
	return i;
}

/* The column's value as `value::text` would give it (the type's output function). */
static Datum
column_text(HeapTuple tuple, TupleDesc desc, int idx, bool *isnull)
{
	Form_pg_attribute a = TupleDescAttr(desc, idx);
	Datum		d = heap_getattr(tuple, idx + 1, desc, isnull);
	Oid			out;
	bool		varlena;

	if (*isnull)
		return (Datum) 0;
	if (a->atttypid == TEXTOID)
		return d;
	getTypeOutputInfo(a->atttypid, &out, &varlena);
	return CStringGetTextDatum(OidOutputFunctionCall(out, d));
}

/*
 * Call a jsonb builder that reads its argument types from the call expression (to_jsonb,
 * jsonb_build_array): the expression carries one Param per argument with its type.
 */
static Datum
call_jsonb_builder(Oid fn, int nargs, const Oid *types, const Datum *values, const bool *nulls)
{
	FmgrInfo	flinfo;
	List	   *args = NIL;
	LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);
	Datum		result;

	for (int i = 0; i < nargs; i++)
	{
		Param	   *p = makeNode(Param);

		p->paramkind = PARAM_EXTERN;
		p->paramid = i + 1;
		p->paramtype = types[i];
		p->paramtypmod = -1;
		p->location = -1;
		args = lappend(args, p);
	}
	fmgr_info(fn, &flinfo);
	fmgr_info_set_expr((Node *) makeFuncExpr(fn, JSONBOID, args, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = values[i];
		fcinfo->args[i].isnull = nulls[i];
	}
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "tenantguard audit capture: jsonb builder %u returned NULL", fn);
	return result;
}

/* to_jsonb(row) */
static Datum
row_jsonb(HeapTuple tuple, Relation rel)
{
	Oid			type = RelationGetForm(rel)->reltype;
	Datum		value = heap_copy_tuple_as_datum(tuple, RelationGetDescr(rel));
	bool		isnull = false;

	return call_jsonb_builder(F_TO_JSONB, 1, &type, &value, &isnull);
}

/* One key column: key::text. Several: jsonb_build_array(k1, k2, ...)::text. */
static Datum
entity_id(HeapTuple tuple, TupleDesc desc, char **keys, int nkeys, bool *isnull)
{
	Oid			types[FUNC_MAX_ARGS];
	Datum		values[FUNC_MAX_ARGS];
	bool		nulls[FUNC_MAX_ARGS];
	Datum		array;

	if (nkeys == 1)
		return column_text(tuple, desc, required_column(desc, keys[0], "key"), isnull);
	if (nkeys > FUNC_MAX_ARGS)
		elog(ERROR, "tenantguard audit capture: more than %d key columns", FUNC_MAX_ARGS);
	for (int k = 0; k < nkeys; k++)
	{
		int			i = required_column(desc, keys[k], "key");

		types[k] = TupleDescAttr(desc, i)->atttypid;
		values[k] = heap_getattr(tuple, i + 1, desc, &nulls[k]);
	}
	array = call_jsonb_builder(F_JSONB_BUILD_ARRAY_ANY, nkeys, types, values, nulls);
	*isnull = false;
	return CStringGetTextDatum(JsonbToCString(NULL, &DatumGetJsonbP(array)->root, VARSIZE(DatumGetPointer(array))));
}

/* The leaf partition of a range-partitioned log that holds `at` (the default one if none). */
static Relation
open_partition(Relation log, Datum at, const char *schema)
{
	PartitionKey key;
	PartitionDesc pd;
	int			part = -1;

	if (log->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		return log;
	key = RelationGetPartitionKey(log);
	pd = RelationGetPartitionDesc(log, false);
	if (key->strategy != PARTITION_STRATEGY_RANGE || key->partnatts != 1 || get_partition_col_attnum(key, 0) == 0)
		elog(ERROR, "tenantguard audit capture: %s.log must be partitioned by range on at", schema);
	if (pd->nparts > 0)
	{
		bool		equal;
		int			bound = partition_range_datum_bsearch(key->partsupfunc, key->partcollation,
														  pd->boundinfo, 1, &at, &equal);

		part = pd->boundinfo->indexes[bound + 1];
		if (part < 0)
			part = pd->boundinfo->default_index;
	}
	if (part < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("tenantguard audit capture: no partition of %s.log holds this transaction's time", schema),
				 errhint("Run SELECT %s.ensure_partitions(); it also creates the default partition.", schema)));
	if (!pd->is_leaf[part])
		elog(ERROR, "tenantguard audit capture: %s.log has sub-partitions, which this capture does not route", schema);
	return table_open(pd->oids[part], RowExclusiveLock);
}

/* Insert the tuple and its index entries, as a one-row INSERT would (minus triggers and RLS). */
static void
insert_row(Relation rel, const Datum *values, const bool *nulls)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	for (int c = 0; c < C_N; c++)
	{
		int			i = required_column(desc, log_columns[c], "audit log");

		slot->tts_values[i] = values[c];
		slot->tts_isnull[i] = nulls[c];
	}
	ExecStoreVirtualTuple(slot);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	if (rri->ri_NumIndices > 0)
		ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	ExecDropSingleTupleTableSlot(slot);
}

Datum
tg_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	TupleDesc	desc;
	HeapTuple	row;
	Datum		values[C_N];
	bool		nulls[C_N];
	const char *schema;
	const char *actor;
	Oid			nsp, logoid, seqoid;
	Relation	log, part;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tenantguard audit capture must run as an AFTER ... FOR EACH ROW trigger")));
	tg = td->tg_trigger;
	if (tg->tgnargs < 4)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tenantguard audit capture needs the arguments (log schema, entity, tenant column, key column...)")));
	schema = tg->tgargs[0];
	desc = RelationGetDescr(td->tg_relation);
	/* the row the event is about: NEW for INSERT and UPDATE, OLD for DELETE */
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	memset(nulls, true, sizeof(nulls));
	/* The xid before the id (see the header). */
	values[C_TXID] = Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId()));
	nulls[C_TXID] = false;
	values[C_TENANT] = column_text(row, desc, required_column(desc, tg->tgargs[2], "tenant"), &nulls[C_TENANT]);
	values[C_ENTITY_ID] = entity_id(row, desc, &tg->tgargs[3], tg->tgnargs - 3, &nulls[C_ENTITY_ID]);
	/*
	 * current_setting('app.current_actor', true), through the same call: NULL only when the
	 * setting was never defined in the session, '' after a SET LOCAL of an earlier transaction.
	 */
	actor = GetConfigOptionByName("app.current_actor", NULL, true);
	if (actor != NULL)
	{
		values[C_ACTOR] = CStringGetTextDatum(actor);
		nulls[C_ACTOR] = false;
	}
	values[C_ACTION] = CStringGetTextDatum(TRIGGER_FIRED_BY_INSERT(td->tg_event) ? "INSERT"
										   : TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" : "DELETE");
	nulls[C_ACTION] = false;
	values[C_ENTITY] = CStringGetTextDatum(tg->tgargs[1]);
	nulls[C_ENTITY] = false;
	if (!TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		values[C_OLD] = row_jsonb(td->tg_trigtuple, td->tg_relation);
		nulls[C_OLD] = false;
	}
	if (!TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		values[C_NEW] = row_jsonb(td->tg_newtuple ? td->tg_newtuple : td->tg_trigtuple, td->tg_relation);
		nulls[C_NEW] = false;
	}
	values[C_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	nulls[C_AT] = false;
	if (nulls[C_TENANT])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("tenantguard audit capture: %s.%s is NULL in a row of %s", tg->tgargs[1], tg->tgargs[2],
						RelationGetRelationName(td->tg_relation))));

	nsp = get_namespace_oid(schema, false);
	logoid = get_relname_relid("log", nsp);
	seqoid = get_relname_relid("log_id_seq", nsp);
	if (!OidIsValid(logoid) || !OidIsValid(seqoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("tenantguard audit capture: %s.log or %s.log_id_seq does not exist", schema, schema)));
	values[C_ID] = Int64GetDatum(nextval_internal(seqoid, false));
	nulls[C_ID] = false;

	log = table_open(logoid, RowExclusiveLock);
	part = open_partition(log, values[C_AT], schema);
	insert_row(part, values, nulls);
	if (part != log)
		table_close(part, NoLock);
	table_close(log, NoLock);
	return PointerGetDatum(NULL);
}
