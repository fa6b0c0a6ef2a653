/*
 * tenantguard_audit: the audit log's capture trigger in C.
 *
 * `tenantguard scaffold audit-log --capture c` generates, per captured table,
 *
 *     CREATE FUNCTION audit.capture__public__invoices() RETURNS trigger
 *         LANGUAGE c SECURITY INVOKER AS 'tenantguard_audit', 'tg_capture';
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
 * only where the migration put it). For the same reason it needs no one's rights and is not
 * SECURITY DEFINER: nothing it does checks a privilege (nextval_internal without checks, no
 * executor); fmgr's user switch around every call cost 0.7 us a transaction, and a column
 * type's own output or json cast now runs as the writer, never as the log's owner.
 *
 * What a trigger needs of its table and of the log (column positions, how each column
 * becomes jsonb, the log's and sequence's oids) is worked out once per backend and trigger and
 * kept until a relcache or namespace invalidation touches one of those relations. to_jsonb(row)
 * (a type lookup per column, numbers printed and parsed back, a key sort) was a third of the
 * capture's cost, the other per-row lookups and opens about a fifth (docs/audit-log.md, Speed).
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
#include "tcop/utility.h"
#include "partitioning/partdesc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

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

/*
 * How one column of the captured table becomes a jsonb value, as to_jsonb(row) would make it:
 * the common scalar types directly from the datum, any other type through to_jsonb on that
 * one value (which then must give a scalar; see row_jsonb).
 */
typedef enum
{
	COL_INT2, COL_INT4, COL_INT8, COL_NUMERIC, COL_TEXT, COL_BOOL, COL_OTHER
} ColumnKind;

typedef struct
{
	int			attidx;			/* in the table's descriptor */
	ColumnKind	kind;
	JsonbValue	key;			/* the column name, a jsonb string */
	FmgrInfo	to_jsonb;		/* COL_OTHER: to_jsonb with the column's type */
} JsonColumn;

/* What one capture trigger needs, worked out once (see the header). Keyed by trigger oid. */
typedef struct
{
	Oid			tgoid;
	bool		valid;
	MemoryContext cxt;			/* everything below that is allocated */
	Oid			relid;			/* the captured table */
	int			natts;
	Oid			logoid;
	Oid			seqoid;
	int			tenant_idx;
	FmgrInfo	tenant_out;		/* the tenant column's output function, unless text */
	bool		tenant_is_text;
	int			nkeys;
	int		   *key_idx;
	FmgrInfo	key_out;		/* one key column: its output function, unless text */
	bool		key_is_text;
	FmgrInfo	keys_array;		/* several: jsonb_build_array over their types */
	FmgrInfo	row_to_jsonb;	/* to_jsonb(row): tables whose columns are not all scalar */
	bool		columns_scalar; /* no array or composite column: cols below are used */
	int			ncols;
	JsonColumn *cols;			/* live columns, in jsonb key order */
} CaptureEntry;

static HTAB *capture_entries = NULL;

/*
 * The log partition a transaction writes into, opened at its first event and kept open to its
 * end, with its indexes, an executor state and a slot: opening and closing them for every row
 * was a fifth of the capture's cost. They belong to the top transaction (its memory and its
 * resource owner), so a subtransaction's abort cannot close them under us; they are closed
 * before commit (writers_xact_callback), released by the abort's cleanup otherwise, and
 * reopened after an invalidation of the log or the partition.
 */
typedef struct
{
	Oid			logoid;
	bool		stale;			/* being opened, or invalidated since */
	TimestampTz at;				/* the time the partition was chosen for */
	Relation	part;			/* locked and open; the log itself only locked, so that
								 * ALTER TABLE on it (retention's DETACH) still works in
								 * a transaction that wrote events */
	Relation	log;			/* open only while the partition is chosen */
	ResultRelInfo *rri;
	EState	   *estate;
	TupleTableSlot *slot;
	int			log_idx[C_N];	/* the log's columns in the partition's descriptor */
} LogWriter;

static List *writers = NIL;		/* in TopTransactionContext; NIL between transactions */

/* The log's columns in the descriptor of the partition column_map_oid. */
static Oid	column_map_oid = InvalidOid;
static int	column_map[C_N];

static void
writers_relcache_callback(Oid relid)
{
	ListCell   *lc;

	if (relid == InvalidOid || relid == column_map_oid)
		column_map_oid = InvalidOid;

	foreach(lc, writers)
	{
		LogWriter  *w = lfirst(lc);

		if (relid == InvalidOid || relid == w->logoid || (w->part != NULL && relid == RelationGetRelid(w->part)))
			w->stale = true;
	}
}

/* Close what a writer holds, as the top transaction's resource owner remembered it. */
static void
close_writer(LogWriter *w)
{
	ResourceOwner owner = CurrentResourceOwner;

	CurrentResourceOwner = TopTransactionResourceOwner;
	if (w->slot != NULL)
		ExecDropSingleTupleTableSlot(w->slot);
	if (w->rri != NULL)
		ExecCloseIndices(w->rri);
	if (w->estate != NULL)
		FreeExecutorState(w->estate);
	if (w->part != NULL)
		table_close(w->part, NoLock);
	if (w->log != NULL)
		table_close(w->log, NoLock);
	CurrentResourceOwner = owner;
	w->slot = NULL;
	w->rri = NULL;
	w->estate = NULL;
	w->part = w->log = NULL;
}

static void
close_writers(void)
{
	ListCell   *lc;

	foreach(lc, writers)
		close_writer(lfirst(lc));
	list_free_deep(writers);
	writers = NIL;
}

static void
writers_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			close_writers();
			break;
		default:
			/* an abort releases them with the transaction's resources and memory */
			writers = NIL;
			break;
	}
}

/*
 * Any utility statement (ALTER TABLE, CREATE INDEX, DETACH PARTITION, DROP, also from inside
 * a function) first closes the writers: an open partition would make PostgreSQL refuse DDL
 * on it for the rest of a transaction that wrote events ("being used by active queries").
 * The next event opens them again.
 */
static ProcessUtility_hook_type next_process_utility = NULL;

static void
writers_process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
	if (writers != NIL)
		close_writers();
	if (next_process_utility)
		next_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
	else
		standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
}

void		_PG_init(void);

void
_PG_init(void)
{
	next_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = writers_process_utility;
}

/* An invalidation of any relation an entry depends on (or of all) makes it stale. */
static void
capture_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	CaptureEntry *e;

	if (capture_entries == NULL)
		return;
	hash_seq_init(&scan, capture_entries);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (relid == InvalidOid || relid == e->relid || relid == e->logoid || relid == e->seqoid)
			e->valid = false;
	}
	writers_relcache_callback(relid);
}

/* A schema renamed or dropped: the log may now be another relation. */
static void
capture_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	capture_relcache_callback(arg, InvalidOid);
}

/* fmgr info for a jsonb builder that reads its argument types from the call expression
 * (to_jsonb, jsonb_build_array): one Param per argument, with its type. */
static void
init_jsonb_builder(FmgrInfo *flinfo, Oid fn, int nargs, const Oid *types, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *args = NIL;

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
	fmgr_info_cxt(fn, flinfo, cxt);
	fmgr_info_set_expr((Node *) makeFuncExpr(fn, JSONBOID, args, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   flinfo);
	MemoryContextSwitchTo(old);
}

static Jsonb *
call_jsonb_builder(FmgrInfo *flinfo, int nargs, const Datum *values, const bool *nulls)
{
	LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, flinfo, nargs, InvalidOid, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = values[i];
		fcinfo->args[i].isnull = nulls[i];
	}
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "tenantguard audit capture: jsonb builder %u returned NULL", flinfo->fn_oid);
	return DatumGetJsonbP(result);
}

/* jsonb's object key order: shorter first, then bytewise (as jsonb stores keys). */
static int
jsonb_key_cmp(const void *a, const void *b)
{
	const JsonbValue *x = &((const JsonColumn *) a)->key;
	const JsonbValue *y = &((const JsonColumn *) b)->key;

	if (x->val.string.len != y->val.string.len)
		return x->val.string.len < y->val.string.len ? -1 : 1;
	return memcmp(x->val.string.val, y->val.string.val, x->val.string.len);
}

/* The output function of a column, or none for text (its datum is the text). */
static void
init_column_text(Form_pg_attribute a, FmgrInfo *out, bool *is_text, MemoryContext cxt)
{
	Oid			fn;
	bool		varlena;

	*is_text = a->atttypid == TEXTOID;
	if (*is_text)
		return;
	getTypeOutputInfo(a->atttypid, &fn, &varlena);
	fmgr_info_cxt(fn, out, cxt);
}

/* The column's value as `value::text` would give it. */
static Datum
column_text(Datum d, FmgrInfo *out, bool is_text)
{
	return is_text ? d : CStringGetTextDatum(OutputFunctionCall(out, d));
}

static void
build_entry(CaptureEntry *e, TriggerData *td)
{
	Trigger    *tg = td->tg_trigger;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	const char *schema = tg->tgargs[0];
	Oid			nsp;
	Oid			reltype = RelationGetForm(td->tg_relation)->reltype;
	MemoryContext cxt;

	/*
	 * The old context goes when the transaction ends, not now: a call further up this stack
	 * (a cast to json that writes to this same table) may still be reading it.
	 */
	if (e->cxt != NULL)
		MemoryContextSetParent(e->cxt, TopTransactionContext);
	e->cxt = NULL;
	e->valid = false;
	e->relid = e->logoid = e->seqoid = InvalidOid;
	cxt = AllocSetContextCreate(CacheMemoryContext, "tenantguard capture", ALLOCSET_SMALL_SIZES);
	e->cxt = cxt;

	nsp = get_namespace_oid(schema, false);
	e->logoid = get_relname_relid("log", nsp);
	e->seqoid = get_relname_relid("log_id_seq", nsp);
	if (!OidIsValid(e->logoid) || !OidIsValid(e->seqoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("tenantguard audit capture: %s.log or %s.log_id_seq does not exist", schema, schema)));
	e->relid = RelationGetRelid(td->tg_relation);
	e->natts = desc->natts;

	e->tenant_idx = required_column(desc, tg->tgargs[2], "tenant");
	init_column_text(TupleDescAttr(desc, e->tenant_idx), &e->tenant_out, &e->tenant_is_text, cxt);
	e->nkeys = tg->tgnargs - 3;
	if (e->nkeys > FUNC_MAX_ARGS)
		elog(ERROR, "tenantguard audit capture: more than %d key columns", FUNC_MAX_ARGS);
	e->key_idx = MemoryContextAlloc(cxt, sizeof(int) * e->nkeys);
	{
		Oid			types[FUNC_MAX_ARGS];

		for (int k = 0; k < e->nkeys; k++)
		{
			e->key_idx[k] = required_column(desc, tg->tgargs[3 + k], "key");
			types[k] = TupleDescAttr(desc, e->key_idx[k])->atttypid;
		}
		if (e->nkeys == 1)
			init_column_text(TupleDescAttr(desc, e->key_idx[0]), &e->key_out, &e->key_is_text, cxt);
		else
			init_jsonb_builder(&e->keys_array, F_JSONB_BUILD_ARRAY_ANY, e->nkeys, types, cxt);
	}

	init_jsonb_builder(&e->row_to_jsonb, F_TO_JSONB, 1, &reltype, cxt);
	e->cols = MemoryContextAllocZero(cxt, sizeof(JsonColumn) * Max(desc->natts, 1));
	e->ncols = 0;
	e->columns_scalar = true;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);
		JsonColumn *c;

		if (a->attisdropped)
			continue;
		c = &e->cols[e->ncols++];
		c->attidx = i;
		c->key.type = jbvString;
		c->key.val.string.val = MemoryContextStrdup(cxt, NameStr(a->attname));
		c->key.val.string.len = strlen(c->key.val.string.val);
		/* exactly the types to_jsonb treats as numbers, booleans or plain strings; no domains */
		switch (a->atttypid)
		{
			case INT2OID:
				c->kind = COL_INT2;
				break;
			case INT4OID:
				c->kind = COL_INT4;
				break;
			case INT8OID:
				c->kind = COL_INT8;
				break;
			case NUMERICOID:
				c->kind = COL_NUMERIC;
				break;
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				c->kind = COL_TEXT;
				break;
			case BOOLOID:
				c->kind = COL_BOOL;
				break;
			default:
				{
					Oid			base = getBaseType(a->atttypid);

					c->kind = COL_OTHER;
					/* always a container: to_jsonb(row) does these in one go */
					if (type_is_rowtype(base) || OidIsValid(get_element_type(base)))
						e->columns_scalar = false;
					else
						init_jsonb_builder(&c->to_jsonb, F_TO_JSONB, 1, &a->atttypid, cxt);
				}
		}
	}
	qsort(e->cols, e->ncols, sizeof(JsonColumn), jsonb_key_cmp);
	e->valid = true;
}

/* The entry of this trigger, built on first use and after an invalidation. */
static CaptureEntry *
capture_entry(TriggerData *td)
{
	CaptureEntry *e;
	bool		found;

	if (capture_entries == NULL)
	{
		HASHCTL		ctl;

		CacheRegisterRelcacheCallback(capture_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, capture_syscache_callback, (Datum) 0);
		RegisterXactCallback(writers_xact_callback, NULL);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CaptureEntry);
		ctl.hcxt = CacheMemoryContext;
		capture_entries = hash_create("tenantguard capture triggers", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(capture_entries, &td->tg_trigger->tgoid, HASH_ENTER, &found);
	if (!found)
	{
		e->cxt = NULL;
		e->valid = false;
	}
	if (!e->valid || e->relid != RelationGetRelid(td->tg_relation) || e->natts != RelationGetDescr(td->tg_relation)->natts)
		build_entry(e, td);
	return e;
}

/*
 * to_jsonb(row), built from the cached column list: the jsonb object is assembled in key
 * order and converted once (no per-column catalog lookups, no output-and-parse of numbers,
 * no key sort). A column of another type that does not give a scalar (json holding an
 * object, a type with a cast to json) sends the row through to_jsonb(row) itself.
 */
static Datum
row_jsonb(CaptureEntry *e, HeapTuple tuple, TupleDesc desc)
{
	Datum	   *values;
	bool	   *nulls;
	JsonbValue	obj;
	JsonbPair  *pairs;

	if (e->columns_scalar)
	{
		values = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
		pairs = palloc(sizeof(JsonbPair) * Max(e->ncols, 1));
		heap_deform_tuple(tuple, desc, values, nulls);
		for (int i = 0; i < e->ncols; i++)
		{
			JsonColumn *c = &e->cols[i];
			JsonbValue *v = &pairs[i].value;
			Datum		d = values[c->attidx];

			pairs[i].key = c->key;
			pairs[i].order = i;
			if (nulls[c->attidx])
			{
				v->type = jbvNull;
				continue;
			}
			switch (c->kind)
			{
				case COL_INT2:
					v->type = jbvNumeric;
					v->val.numeric = int64_to_numeric(DatumGetInt16(d));
					break;
				case COL_INT4:
					v->type = jbvNumeric;
					v->val.numeric = int64_to_numeric(DatumGetInt32(d));
					break;
				case COL_INT8:
					v->type = jbvNumeric;
					v->val.numeric = int64_to_numeric(DatumGetInt64(d));
					break;
				case COL_NUMERIC:
					{
						Numeric		n = DatumGetNumeric(d);

						/* to_jsonb: a number unless its text is NaN or +-Infinity, then that text */
						if (numeric_is_nan(n) || numeric_is_inf(n))
						{
							char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));

							v->type = jbvString;
							v->val.string.val = s;
							v->val.string.len = strlen(s);
						}
						else
						{
							v->type = jbvNumeric;
							v->val.numeric = n;
						}
						break;
					}
				case COL_TEXT:
					{
						text	   *t = DatumGetTextPP(d);
						int			len = VARSIZE_ANY_EXHDR(t);

						if (len > JENTRY_OFFLENMASK)
							ereport(ERROR,
									(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
									 errmsg("string too long to represent as jsonb string"),
									 errdetail("Due to an implementation restriction, jsonb strings cannot exceed %d bytes.",
											   JENTRY_OFFLENMASK)));
						v->type = jbvString;
						v->val.string.val = VARDATA_ANY(t);
						v->val.string.len = len;
						break;
					}
				case COL_BOOL:
					v->type = jbvBool;
					v->val.boolean = DatumGetBool(d);
					break;
				case COL_OTHER:
					{
						bool		isnull = false;
						Jsonb	   *j = call_jsonb_builder(&c->to_jsonb, 1, &d, &isnull);

						if (!JsonbExtractScalar(&j->root, v))
							goto whole_row;
						break;
					}
			}
		}
		obj.type = jbvObject;
		obj.val.object.nPairs = e->ncols;
		obj.val.object.pairs = pairs;
		return JsonbPGetDatum(JsonbValueToJsonb(&obj));
	}
whole_row:
	{
		Datum		row = heap_copy_tuple_as_datum(tuple, desc);
		bool		isnull = false;

		return JsonbPGetDatum(call_jsonb_builder(&e->row_to_jsonb, 1, &row, &isnull));
	}
}

/* One key column: key::text. Several: jsonb_build_array(k1, k2, ...)::text. */
static Datum
entity_id(CaptureEntry *e, HeapTuple tuple, TupleDesc desc, bool *isnull)
{
	Datum		values[FUNC_MAX_ARGS];
	bool		nulls[FUNC_MAX_ARGS];
	Jsonb	   *array;

	if (e->nkeys == 1)
	{
		Datum		d = heap_getattr(tuple, e->key_idx[0] + 1, desc, isnull);

		return *isnull ? (Datum) 0 : column_text(d, &e->key_out, e->key_is_text);
	}
	for (int k = 0; k < e->nkeys; k++)
		values[k] = heap_getattr(tuple, e->key_idx[k] + 1, desc, &nulls[k]);
	array = call_jsonb_builder(&e->keys_array, e->nkeys, values, nulls);
	*isnull = false;
	return CStringGetTextDatum(JsonbToCString(NULL, &array->root, VARSIZE(array)));
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

/* This transaction's writer into the log of `e`, opened on first use (see LogWriter). */
static LogWriter *
log_writer(CaptureEntry *e, TimestampTz at, const char *schema)
{
	ListCell   *lc;
	LogWriter  *w;
	MemoryContext old;
	ResourceOwner owner = CurrentResourceOwner;

	foreach(lc, writers)
	{
		w = lfirst(lc);
		if (w->logoid != e->logoid)
			continue;
		if (!w->stale && w->at == at)
			return w;
		close_writer(w);
		writers = foreach_delete_current(writers, lc);
		pfree(w);
		break;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	/* listed before anything is opened, so an error half-way leaves nothing unclosed */
	w = palloc0(sizeof(LogWriter));
	w->logoid = e->logoid;
	w->stale = true;
	w->at = at;
	writers = lappend(writers, w);
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		TupleDesc	desc;
		Relation	part;

		w->log = table_open(e->logoid, RowExclusiveLock);
		part = open_partition(w->log, TimestampTzGetDatum(at), schema);
		if (part != w->log)		/* else not partitioned: the log is the partition */
			table_close(w->log, NoLock);
		w->log = NULL;
		w->part = part;
		desc = RelationGetDescr(w->part);
		/* a partition may order its columns differently from the log: looked up once per
		 * partition (until an invalidation of it) */
		if (column_map_oid != RelationGetRelid(w->part))
		{
			column_map_oid = InvalidOid;
			for (int c = 0; c < C_N; c++)
				column_map[c] = required_column(desc, log_columns[c], "audit log");
			column_map_oid = RelationGetRelid(w->part);
		}
		memcpy(w->log_idx, column_map, sizeof(column_map));
		w->estate = CreateExecutorState();
		/* only what ExecOpenIndices and ExecInsertIndexTuples read: no copy of the log's
		 * (guard) triggers, which this insert does not fire */
		w->rri = makeNode(ResultRelInfo);
		w->rri->ri_RelationDesc = w->part;
		ExecOpenIndices(w->rri, false);
		w->slot = table_slot_create(w->part, NULL);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = owner;
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
	w->stale = false;
	return w;
}

/* Insert the tuple and its index entries, as a one-row INSERT would (minus triggers and RLS). */
static void
insert_row(LogWriter *w, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = w->slot;

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	for (int c = 0; c < C_N; c++)
	{
		slot->tts_values[w->log_idx[c]] = values[c];
		slot->tts_isnull[w->log_idx[c]] = nulls[c];
	}
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(w->part, slot, GetCurrentCommandId(true), 0, NULL);
	if (w->rri->ri_NumIndices > 0)
		ExecInsertIndexTuples(w->rri, slot, w->estate, false, false, NULL, NIL);
	ResetPerTupleExprContext(w->estate);
	ExecClearTuple(slot);
}

Datum
tg_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	CaptureEntry *e;
	TupleDesc	desc;
	HeapTuple	row;
	Datum		values[C_N];
	bool		nulls[C_N];
	const char *actor;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tenantguard audit capture must run as an AFTER ... FOR EACH ROW trigger")));
	tg = td->tg_trigger;
	if (tg->tgnargs < 4)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tenantguard audit capture needs the arguments (log schema, entity, tenant column, key column...)")));
	e = capture_entry(td);
	desc = RelationGetDescr(td->tg_relation);
	/* the row the event is about: NEW for INSERT and UPDATE, OLD for DELETE */
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	memset(nulls, true, sizeof(nulls));
	/* The xid before the id (see the header). */
	values[C_TXID] = Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId()));
	nulls[C_TXID] = false;
	values[C_TENANT] = heap_getattr(row, e->tenant_idx + 1, desc, &nulls[C_TENANT]);
	if (nulls[C_TENANT])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("tenantguard audit capture: %s.%s is NULL in a row of %s", tg->tgargs[1], tg->tgargs[2],
						RelationGetRelationName(td->tg_relation))));
	values[C_TENANT] = column_text(values[C_TENANT], &e->tenant_out, e->tenant_is_text);
	values[C_ENTITY_ID] = entity_id(e, row, desc, &nulls[C_ENTITY_ID]);
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
		values[C_OLD] = row_jsonb(e, td->tg_trigtuple, desc);
		nulls[C_OLD] = false;
	}
	if (!TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		values[C_NEW] = row_jsonb(e, td->tg_newtuple ? td->tg_newtuple : td->tg_trigtuple, desc);
		nulls[C_NEW] = false;
	}
	values[C_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	nulls[C_AT] = false;

	values[C_ID] = Int64GetDatum(nextval_internal(e->seqoid, false));
	nulls[C_ID] = false;

	insert_row(log_writer(e, DatumGetTimestampTz(values[C_AT]), tg->tgargs[0]), values, nulls);
	return PointerGetDatum(NULL);
}
