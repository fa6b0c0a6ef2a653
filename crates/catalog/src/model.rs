//! The snapshot's plain data. Names are kept unquoted; [`QualifiedName`] renders
//! them the way the JSON contract wants (quoted only where needed).

use serde::{Deserialize, Serialize};

use crate::expr::Expr;

pub type Oid = u32;

/// The role oid PostgreSQL uses for PUBLIC in ACLs and `pg_policy.polroles`.
pub const PUBLIC: Oid = 0;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub server_version_num: i32,
    pub database: String,
    /// The role the snapshot was read as.
    pub read_as: String,
    pub roles: Vec<Role>,
    pub memberships: Vec<Membership>,
    pub schemas: Vec<Schema>,
    pub relations: Vec<Relation>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub policies: Vec<Policy>,
    pub functions: Vec<Function>,
    pub triggers: Vec<Trigger>,
    pub event_triggers: Vec<EventTrigger>,
    /// `ALTER ROLE/DATABASE ... SET` entries (pg_db_role_setting).
    pub role_settings: Vec<RoleSetting>,
    /// Server settings whose value does not come from the default (pg_settings).
    pub settings: Vec<Setting>,
    pub databases: Vec<Database>,
    /// Parts of the catalog that could not be read, and why (lack of privilege, mostly).
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub oid: Oid,
    pub name: String,
    pub superuser: bool,
    pub bypass_rls: bool,
    pub can_login: bool,
    pub inherit: bool,
}

/// `member` is a member of `role` (pg_auth_members).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub role: Oid,
    pub member: Oid,
    pub admin: bool,
    /// Whether the member uses the role's privileges without `SET ROLE`
    /// (PostgreSQL 16+: the grant's INHERIT option; before: the member's rolinherit).
    pub inherit: bool,
    /// Whether the member may `SET ROLE` to it (always before PostgreSQL 16).
    pub set: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schema {
    pub oid: Oid,
    pub name: String,
    pub owner: Oid,
    pub grants: Vec<Grant>,
}

/// One exploded ACL entry; `grantee` is [`PUBLIC`] for PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Oid,
    pub privilege: Privilege,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Truncate,
    References,
    Trigger,
    Execute,
    Usage,
    Create,
    Temporary,
    Connect,
    Other,
}

impl Privilege {
    pub fn parse(s: &str) -> Privilege {
        match s {
            "SELECT" => Privilege::Select,
            "INSERT" => Privilege::Insert,
            "UPDATE" => Privilege::Update,
            "DELETE" => Privilege::Delete,
            "TRUNCATE" => Privilege::Truncate,
            "REFERENCES" => Privilege::References,
            "TRIGGER" => Privilege::Trigger,
            "EXECUTE" => Privilege::Execute,
            "USAGE" => Privilege::Usage,
            "CREATE" => Privilege::Create,
            "TEMPORARY" | "TEMP" => Privilege::Temporary,
            "CONNECT" => Privilege::Connect,
            _ => Privilege::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelKind {
    Table,
    PartitionedTable,
    View,
    MaterializedView,
    ForeignTable,
    Other,
}

impl RelKind {
    pub fn from_relkind(c: &str) -> RelKind {
        match c {
            "r" => RelKind::Table,
            "p" => RelKind::PartitionedTable,
            "v" => RelKind::View,
            "m" => RelKind::MaterializedView,
            "f" => RelKind::ForeignTable,
            _ => RelKind::Other,
        }
    }

    /// Kinds that hold rows and can carry row-level security.
    pub fn is_table(self) -> bool {
        matches!(self, RelKind::Table | RelKind::PartitionedTable | RelKind::ForeignTable)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Relation {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub kind: RelKind,
    pub owner: Oid,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub grants: Vec<Grant>,
    pub columns: Vec<Column>,
    /// Parents through inheritance or partitioning (pg_inherits).
    pub parents: Vec<Oid>,
    pub is_partition: bool,
    /// Views: `security_invoker` / `security_barrier` reloptions.
    pub security_invoker: bool,
    pub security_barrier: bool,
    /// Views and materialized views: their query as pg_get_viewdef prints it.
    pub view_definition: Option<String>,
    /// Views: the parsed WHERE clause of the top-level query, when there is one.
    pub view_filter: Option<Expr>,
    /// Relations a view or materialized view reads (pg_depend through its rewrite rule).
    pub reads: Vec<Oid>,
    pub is_temp: bool,
}

impl Relation {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub num: i16,
    pub name: String,
    pub type_name: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub identity: bool,
    pub generated: bool,
    /// Column-level grants (pg_attribute.attacl).
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclusion,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    pub relation: Oid,
    pub kind: ConstraintKind,
    pub columns: Vec<String>,
    pub referenced_relation: Option<Oid>,
    pub referenced_columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub relation: Oid,
    pub unique: bool,
    pub primary: bool,
    /// Key columns in order; `None` for an expression key.
    pub columns: Vec<Option<String>>,
    pub partial: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PolicyCommand {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl PolicyCommand {
    pub fn from_polcmd(c: &str) -> PolicyCommand {
        match c {
            "r" => PolicyCommand::Select,
            "a" => PolicyCommand::Insert,
            "w" => PolicyCommand::Update,
            "d" => PolicyCommand::Delete,
            _ => PolicyCommand::All,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub relation: Oid,
    pub command: PolicyCommand,
    pub permissive: bool,
    /// Role oids; [`PUBLIC`] (0) when the policy is `TO PUBLIC`.
    pub roles: Vec<Oid>,
    pub using_text: Option<String>,
    pub check_text: Option<String>,
    pub using: Option<Expr>,
    pub check: Option<Expr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    /// `pg_get_function_identity_arguments`.
    pub arguments: String,
    pub arg_count: i16,
    pub language: String,
    pub security_definer: bool,
    pub volatility: String,
    pub owner: Oid,
    /// `proconfig`: `name=value` entries set while the function runs.
    pub config: Vec<String>,
    pub source: String,
    pub returns_set: bool,
    pub return_type: String,
    pub grants: Vec<Grant>,
    /// The function body's statements parsed with PostgreSQL's parser (SQL functions only).
    pub sql_body: Option<Vec<crate::expr::Statement>>,
    pub is_trigger: bool,
}

impl Function {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }

    pub fn signature(&self) -> String {
        format!("{}({})", self.qualified(), self.arguments)
    }

    pub fn search_path_pinned(&self) -> bool {
        self.config.iter().any(|c| c.starts_with("search_path="))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    pub relation: Oid,
    pub function: Oid,
    /// `O` origin/local, `D` disabled, `R` replica only, `A` always.
    pub enabled: String,
    pub before: bool,
    pub after: bool,
    pub instead: bool,
    pub row_level: bool,
    pub on_insert: bool,
    pub on_update: bool,
    pub on_delete: bool,
    pub on_truncate: bool,
    /// The arguments given in CREATE TRIGGER (tgargs), which a C trigger function reads.
    #[serde(default)]
    pub args: Vec<String>,
}

impl Trigger {
    pub fn fires_normally(&self) -> bool {
        matches!(self.enabled.as_str(), "O" | "A")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventTrigger {
    pub name: String,
    pub event: String,
    pub function: Oid,
    pub enabled: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleSetting {
    /// None: applies to every role (`ALTER DATABASE ... SET`).
    pub role: Option<String>,
    /// None: applies in every database (`ALTER ROLE ... SET`).
    pub database: Option<String>,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    pub owner: Oid,
    pub is_template: bool,
    pub grants: Vec<Grant>,
}

/// `schema.name`, each part quoted only when PostgreSQL would need it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: &str, name: &str) -> Self {
        QualifiedName { schema: schema.to_string(), name: name.to_string() }
    }

    /// Parse `schema.name` or `name` (schema `public`), honouring double quotes.
    pub fn parse(text: &str) -> Option<Self> {
        let parts = split_identifier(text)?;
        match parts.as_slice() {
            [name] => Some(QualifiedName::new("public", name)),
            [schema, name] => Some(QualifiedName::new(schema, name)),
            _ => None,
        }
    }
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Quote an identifier only when needed (not all lowercase/digits/underscores, or a keyword-like start).
pub fn quote_ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain && !is_reserved(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn is_reserved(name: &str) -> bool {
    // The reserved keywords that can plausibly name a table or schema.
    matches!(
        name,
        "all" | "analyse" | "analyze" | "and" | "any" | "array" | "as" | "asc" | "both" | "case" | "cast"
            | "check" | "collate" | "column" | "constraint" | "create" | "default" | "desc" | "distinct"
            | "do" | "else" | "end" | "except" | "false" | "for" | "foreign" | "from" | "grant" | "group"
            | "having" | "in" | "initially" | "intersect" | "into" | "leading" | "limit" | "not" | "null"
            | "offset" | "on" | "only" | "or" | "order" | "primary" | "references" | "select" | "table"
            | "then" | "to" | "trailing" | "true" | "union" | "unique" | "user" | "using" | "when"
            | "where" | "window" | "with"
    )
}

/// Split `a.b` / `"A"."b.c"` into parts; unquoted parts fold to lower case.
pub fn split_identifier(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
            part = part.trim().to_string();
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => continue,
            Some(_) => return None,
        }
    }
}

impl Snapshot {
    pub fn relation(&self, oid: Oid) -> Option<&Relation> {
        self.relations.iter().find(|r| r.oid == oid)
    }

    pub fn relation_by_name(&self, name: &QualifiedName) -> Option<&Relation> {
        self.relations.iter().find(|r| r.schema == name.schema && r.name == name.name)
    }

    pub fn role(&self, oid: Oid) -> Option<&Role> {
        self.roles.iter().find(|r| r.oid == oid)
    }

    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    pub fn role_name(&self, oid: Oid) -> String {
        if oid == PUBLIC {
            return "PUBLIC".to_string();
        }
        self.role(oid).map(|r| r.name.clone()).unwrap_or_else(|| format!("role#{oid}"))
    }

    pub fn function(&self, oid: Oid) -> Option<&Function> {
        self.functions.iter().find(|f| f.oid == oid)
    }

    pub fn policies_on(&self, relation: Oid) -> impl Iterator<Item = &Policy> {
        self.policies.iter().filter(move |p| p.relation == relation)
    }

    pub fn triggers_on(&self, relation: Oid) -> impl Iterator<Item = &Trigger> {
        self.triggers.iter().filter(move |t| t.relation == relation)
    }

    pub fn constraints_on(&self, relation: Oid) -> impl Iterator<Item = &Constraint> {
        self.constraints.iter().filter(move |c| c.relation == relation)
    }

    pub fn indexes_on(&self, relation: Oid) -> impl Iterator<Item = &Index> {
        self.indexes.iter().filter(move |i| i.relation == relation)
    }
}
