//! A validator for the OpenAPI 3.0 schemas in Immich's spec: `$ref`, `allOf`/`oneOf`/`anyOf`,
//! `nullable`, types, `enum`, `required`, `properties`, `items`, `format: uuid|date-time`,
//! `pattern`, `minimum`/`maximum`. Unknown properties are allowed, as Immich itself sends some
//! the spec does not list (e.g. the timeline's `status[]`).

use serde_json::Value;
use std::sync::OnceLock;

/// Immich's OpenAPI spec (v3.1.0), kept in `tests/fixtures/immich`.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/immich/immich-openapi-specs.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

/// Immich's OpenAPI spec of the v2 line (v2.7.5), kept beside it.
#[allow(dead_code)]
pub fn spec_v2() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/immich/immich-openapi-specs-v2.7.5.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

/// The response schema of an operation, e.g. (`post`, `/search/metadata`, `200`).
pub fn response_schema(method: &str, path: &str, status: u16) -> Option<&'static Value> {
    spec()["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"].get("schema")
}

/// The request-body schema of an operation.
#[allow(dead_code)]
pub fn request_schema(method: &str, path: &str) -> Option<&'static Value> {
    request_schema_in(spec(), method, path)
}

/// The request-body schema of an operation in `spec`.
#[allow(dead_code)]
pub fn request_schema_in<'s>(spec: &'s Value, method: &str, path: &str) -> Option<&'s Value> {
    spec["paths"][path][method]["requestBody"]["content"]["application/json"].get("schema")
}

fn resolve<'s>(spec: &'s Value, schema: &'s Value) -> &'s Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Validates `value` against `schema` (of the v3.1.0 spec); returns every violation with its JSON
/// path.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    validate_in(spec(), schema, value)
}

/// Validates `value` against `schema`, a schema of `spec`.
pub fn validate_in(spec: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(spec, schema, value, "$", &mut errors);
    errors
}

fn check(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    let null_in_type =
        schema.get("type").and_then(Value::as_array).is_some_and(|k| k.contains(&Value::String("null".into())));
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true))
            && !null_in_type
            && !schema.as_object().is_some_and(|o| o.is_empty())
        {
            // allOf/anyOf wrappers may carry nullable on the members.
            let members_nullable = ["allOf", "anyOf", "oneOf"]
                .iter()
                .filter_map(|k| schema.get(*k).and_then(Value::as_array))
                .flatten()
                .any(|m| resolve(spec, m).get("nullable") == Some(&Value::Bool(true)));
            if !members_nullable {
                errors.push(format!("{at}: null is not allowed"));
            }
        }
        return;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for member in all {
            check(spec, member, value, at, errors);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array)
            && !options.iter().any(|o| validate_in(spec, o, value).is_empty())
        {
            errors.push(format!("{at}: matches none of {key}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let fits = |kind: &str| match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    let type_ok = match schema.get("type") {
        Some(Value::String(kind)) => fits(kind),
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).any(fits),
        _ => true,
    };
    if !type_ok {
        errors.push(format!("{at}: expected {}, got {value}", schema["type"]));
        return;
    }
    if let Some(object) = value.as_object() {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: missing required property {name:?}"));
                }
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in properties {
                if let Some(v) = object.get(name) {
                    check(spec, sub, v, &format!("{at}.{name}"), errors);
                }
            }
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            let known = schema.get("properties").and_then(Value::as_object);
            for (name, v) in object {
                if known.is_none_or(|k| !k.contains_key(name)) {
                    check(spec, extra, v, &format!("{at}.{name}"), errors);
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(spec, items, v, &format!("{at}[{i}]"), errors);
        }
    }
    if let Some(text) = value.as_str() {
        match schema.get("format").and_then(Value::as_str) {
            Some("uuid") if !is_uuid(text) => errors.push(format!("{at}: {text:?} is not a uuid")),
            Some("date-time") if !looks_like_datetime(text) => {
                errors.push(format!("{at}: {text:?} is not a date-time"))
            }
            _ => {}
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(pattern).unwrap().is_match(text)
        {
            errors.push(format!("{at}: {text:?} does not match {pattern}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{at}: {n} < minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{at}: {n} > maximum {max}"));
        }
    }
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

fn looks_like_datetime(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && (b[10] == b'T' || b[10] == b' ') && b[13] == b':'
}
