//! The manifest's JSON Schema compiled once into a tree of nodes: references
//! resolved, kinds and bounds precomputed, so checking a file is a walk over
//! plain structs rather than JSON lookups.

use std::collections::HashMap;

use serde_json::Value as Json;

/// Index of a node in [`Compiled::nodes`].
pub(super) type NodeId = usize;

/// A TOML value's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    String,
    Integer,
    Float,
    Boolean,
    Datetime,
    Array,
    Table,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::String,
        Kind::Integer,
        Kind::Float,
        Kind::Boolean,
        Kind::Datetime,
        Kind::Array,
        Kind::Table,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Float => "a float",
            Kind::Boolean => "a boolean",
            Kind::Datetime => "a date-time",
            Kind::Array => "a list",
            Kind::Table => "a table",
        }
    }
}

/// A set of kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Kinds(u8);

impl Kinds {
    pub(super) fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    fn insert(&mut self, kind: Kind) {
        self.0 |= 1 << kind as u8;
    }

    pub(super) fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }

    pub(super) fn only(self, kind: Kind) -> bool {
        self.0 == 1 << kind as u8
    }
}

/// One schema: what a value at this place may be.
#[derive(Debug, Default)]
pub(super) struct Node {
    /// The kinds this node accepts, its alternatives' included.
    pub kinds: Kinds,
    /// When not empty, the value must be one of these.
    pub literals: Vec<Json>,
    /// `anyOf`/`oneOf`: the value must fit one of these.
    pub alternatives: Vec<NodeId>,
    /// Keys of a table, in schema order.
    pub properties: Vec<(String, NodeId)>,
    /// Unknown keys are errors.
    pub closed: bool,
    pub required: Vec<String>,
    /// Schema of a list's items.
    pub items: Option<NodeId>,
    pub minimum: Option<i128>,
    /// The maximum the schema states.
    pub maximum: Option<i128>,
    /// The largest value the integer type holds (`format: uint32`).
    pub type_maximum: Option<i128>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
}

impl Node {
    pub(super) fn property(&self, name: &str) -> Option<NodeId> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, id)| *id)
    }
}

#[derive(Debug)]
pub(super) struct Compiled {
    nodes: Vec<Node>,
    pub root: NodeId,
    /// Every (table, key) in the schema, for "`gpus` belongs in `[devices]`".
    pub keys: Vec<(String, String)>,
}

impl Compiled {
    pub(super) fn new(schema: &Json) -> Compiled {
        let mut compiler = Compiler {
            schema,
            nodes: Vec::new(),
            refs: HashMap::new(),
        };
        let root = compiler.compile(schema);
        let mut compiled = Compiled {
            nodes: compiler.nodes,
            root,
            keys: Vec::new(),
        };
        let mut keys = Vec::new();
        compiled.collect_keys(root, "", &mut keys, 0);
        compiled.keys = keys;
        compiled
    }

    pub(super) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    fn collect_keys(&self, id: NodeId, table: &str, out: &mut Vec<(String, String)>, depth: usize) {
        if depth > 6 {
            return;
        }
        let node = self.node(id);
        for (name, child) in &node.properties {
            out.push((table.to_owned(), name.clone()));
            let path = if table.is_empty() {
                name.clone()
            } else {
                format!("{table}.{name}")
            };
            self.collect_keys(*child, &path, out, depth + 1);
        }
        for alt in &node.alternatives {
            self.collect_keys(*alt, table, out, depth + 1);
        }
    }
}

struct Compiler<'a> {
    schema: &'a Json,
    nodes: Vec<Node>,
    /// `$ref` target → its node, so each definition is compiled once.
    refs: HashMap<String, NodeId>,
}

impl Compiler<'_> {
    fn compile(&mut self, json: &Json) -> NodeId {
        if let Some(reference) = json.get("$ref").and_then(Json::as_str) {
            if let Some(&id) = self.refs.get(reference) {
                return id;
            }
            let id = self.reserve();
            self.refs.insert(reference.to_owned(), id);
            let target = self
                .schema
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or(&Json::Null);
            self.fill(id, target);
            return id;
        }
        // How draft-07 annotates a `$ref`: `{ "description": …, "allOf": [{ "$ref": … }] }`.
        if let Some([only]) = json
            .get("allOf")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
        {
            return self.compile(only);
        }
        let id = self.reserve();
        self.fill(id, json);
        id
    }

    fn reserve(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    fn fill(&mut self, id: NodeId, json: &Json) {
        let mut node = Node::default();
        let mut constrained = false;
        for key in ["anyOf", "oneOf"] {
            for alt in json.get(key).and_then(Json::as_array).into_iter().flatten() {
                constrained = true;
                let alt = self.compile(alt);
                node.alternatives.push(alt);
                node.kinds.0 |= self.nodes[alt].kinds.0;
            }
        }
        if let Some(c) = json.get("const") {
            node.literals.push(c.clone());
        }
        node.literals.extend(
            json.get("enum")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .cloned(),
        );
        for literal in &node.literals {
            constrained = true;
            match literal {
                Json::String(_) => node.kinds.insert(Kind::String),
                Json::Bool(_) => node.kinds.insert(Kind::Boolean),
                Json::Number(n) if n.is_f64() => node.kinds.insert(Kind::Float),
                Json::Number(_) => node.kinds.insert(Kind::Integer),
                _ => {}
            }
        }
        let types: Vec<&str> = match json.get("type") {
            Some(Json::String(s)) => vec![s.as_str()],
            Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        };
        for ty in types {
            constrained = true;
            match ty {
                "string" => node.kinds.insert(Kind::String),
                "integer" => node.kinds.insert(Kind::Integer),
                "number" => {
                    node.kinds.insert(Kind::Integer);
                    node.kinds.insert(Kind::Float);
                }
                "boolean" => node.kinds.insert(Kind::Boolean),
                "array" => node.kinds.insert(Kind::Array),
                "object" => node.kinds.insert(Kind::Table),
                _ => {}
            }
        }
        if !constrained {
            node.kinds = Kinds(u8::MAX);
        }
        if let Some(props) = json.get("properties").and_then(Json::as_object) {
            for (name, sub) in props {
                let child = self.compile(sub);
                node.properties.push((name.clone(), child));
            }
        }
        node.closed = json.get("additionalProperties") == Some(&Json::Bool(false));
        node.required = json
            .get("required")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        node.items = json.get("items").map(|items| self.compile(items));
        node.minimum = json.get("minimum").and_then(Json::as_i64).map(i128::from);
        node.maximum = json.get("maximum").and_then(Json::as_u64).map(i128::from);
        node.type_maximum = match json.get("format").and_then(Json::as_str) {
            Some("uint8") => Some(u8::MAX.into()),
            Some("uint16") => Some(u16::MAX.into()),
            Some("uint32" | "uint") => Some(u32::MAX.into()),
            Some("uint64") => Some(u64::MAX.into()),
            Some("int32") => Some(i32::MAX.into()),
            Some("int64" | "int") => Some(i64::MAX.into()),
            _ => None,
        };
        node.min_items = json.get("minItems").and_then(Json::as_u64);
        node.max_items = json.get("maxItems").and_then(Json::as_u64);
        self.nodes[id] = node;
    }
}
