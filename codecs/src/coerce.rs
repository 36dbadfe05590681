//! Lenient coercion of field values, as uniflow's decoders allow and as rendered templates need
//! (a template renders to a string, so `port: '{{ .PORT }}'` arrives as `"8000"`): numeric strings
//! into numbers, `"true"`/`"false"` into booleans, durations from Go's `time.ParseDuration` syntax
//! (`"500ms"`, `"1.5s"`, `"1h30m"`) or a number of milliseconds, and a single value where a list
//! is expected into a list of one. Errors name the field. The [`de`] module offers the same as
//! `#[serde(deserialize_with = …)]` helpers for typed codec structs.

use std::time::Duration;

use serde_json::Value;

use crate::resource::FieldIssue;

/// A value that could not be read as the field's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {message}")]
pub struct CoerceError {
    pub field: String,
    pub message: String,
}

impl From<CoerceError> for FieldIssue {
    fn from(e: CoerceError) -> Self {
        FieldIssue::new(e.field, e.message)
    }
}

fn fail<T>(field: &str, expected: &str, v: &Value) -> Result<T, CoerceError> {
    let found = match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    };
    let hint = match v {
        Value::String(s) if s.contains("<no value>") => {
            "; a template in it used an env key the spec's env does not have"
        }
        Value::String(s) if crate::template::needs_render(s) => {
            "; it is a template, and templates are only rendered in specs that have an env"
        }
        _ => "",
    };
    Err(CoerceError {
        field: field.to_string(),
        message: format!("expected {expected}, found {found}{hint}"),
    })
}

/// An integer from a JSON integer, an integral float (`8000.0`) or a decimal string (`"8000"`).
pub fn to_i128(v: &Value, field: &str) -> Result<i128, CoerceError> {
    let n = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Some(i128::from(u))
            } else {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e38)
                    .map(|f| f as i128)
            }
        }
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    };
    match n {
        Some(n) => Ok(n),
        None => fail(field, "an integer", v),
    }
}

/// An integer of type `T` (see [`to_i128`]), checked against `T`'s range.
pub fn to_integer<T: TryFrom<i128>>(v: &Value, field: &str) -> Result<T, CoerceError> {
    let n = to_i128(v, field)?;
    T::try_from(n).map_err(|_| CoerceError {
        field: field.to_string(),
        message: format!("{n} is out of range ({} to {})", min_of::<T>(), max_of::<T>()),
    })
}

fn min_of<T: TryFrom<i128>>() -> i128 {
    [
        i128::from(i64::MIN),
        i128::from(i32::MIN),
        i128::from(i16::MIN),
        i128::from(i8::MIN),
        0,
    ]
    .into_iter()
    .find(|&m| T::try_from(m).is_ok())
    .unwrap_or(0)
}

fn max_of<T: TryFrom<i128>>() -> i128 {
    [
        u64::MAX.into(),
        i64::MAX.into(),
        u32::MAX.into(),
        i32::MAX.into(),
        u16::MAX.into(),
        i16::MAX.into(),
        u8::MAX.into(),
        i8::MAX.into(),
    ]
    .into_iter()
    .find(|&m| T::try_from(m).is_ok())
    .unwrap_or(0)
}

/// A signed integer.
pub fn to_i64(v: &Value, field: &str) -> Result<i64, CoerceError> {
    to_integer(v, field)
}

/// A non-negative integer.
pub fn to_u64(v: &Value, field: &str) -> Result<u64, CoerceError> {
    to_integer(v, field)
}

/// A finite number from a JSON number or a numeric string.
pub fn to_f64(v: &Value, field: &str) -> Result<f64, CoerceError> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    match f {
        Some(f) => Ok(f),
        None => fail(field, "a number", v),
    }
}

/// A boolean from a JSON boolean or a string Go's `strconv.ParseBool` accepts (`true`, `false`,
/// `True`, `FALSE`, `t`, `f`, `1`, `0`).
pub fn to_bool(v: &Value, field: &str) -> Result<bool, CoerceError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim() {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => Ok(true),
            "false" | "False" | "FALSE" | "f" | "F" | "0" => Ok(false),
            _ => fail(field, "a boolean", v),
        },
        _ => fail(field, "a boolean", v),
    }
}

/// A string, or a number or boolean as its text.
pub fn to_text(v: &Value, field: &str) -> Result<String, CoerceError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => fail(field, "a string", v),
    }
}

/// A duration from Go's duration syntax (`"500ms"`, `"1.5s"`, `"2m"`, `"1h30m"`, `"0"`) or a number
/// of milliseconds (as a number or a numeric string). Negative durations are refused.
pub fn to_duration(v: &Value, field: &str) -> Result<Duration, CoerceError> {
    let err = |message: String| CoerceError {
        field: field.to_string(),
        message,
    };
    match v {
        Value::Number(n) => millis(n.as_f64().unwrap_or(f64::NAN)).map_err(err),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(ms) = s.parse::<f64>() {
                return millis(ms).map_err(err);
            }
            if s.contains("<no value>") || crate::template::needs_render(s) {
                return fail(field, "a duration", v);
            }
            parse_duration(s).map_err(err)
        }
        _ => fail(
            field,
            "a duration (\"500ms\", \"1.5s\", \"1h30m\") or a number of milliseconds",
            v,
        ),
    }
}

fn millis(ms: f64) -> Result<Duration, String> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(format!(
            "invalid duration: {ms} milliseconds (must be zero or more)"
        ));
    }
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| format!("duration out of range: {ms} milliseconds"))
}

/// Go's `time.ParseDuration`, for non-negative durations: a sequence of decimal numbers, each
/// with an optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `"0"` alone is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const MAX_NANOS: u128 = 1 << 63;
    let invalid = || format!("invalid duration {s:?}");
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if let Some(r) = rest.strip_prefix('-') {
        if r == "0" {
            return Ok(Duration::ZERO);
        }
        return Err(format!(
            "invalid duration {s:?}: negative durations are not allowed"
        ));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, r) = rest.split_at(int_len);
        rest = r;
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..n];
            rest = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, r) = rest.split_at(unit_len);
        rest = r;
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {s:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {s:?}")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse::<u128>()
                .map_err(|_| format!("duration out of range: {s:?}"))?
        };
        // The fraction, to nanosecond precision (digits past 30 cannot matter).
        let frac_digits = &frac_part[..frac_part.len().min(30)];
        let frac: u128 = if frac_digits.is_empty() {
            0
        } else {
            let num = frac_digits.parse::<u128>().map_err(|_| invalid())?;
            num.saturating_mul(scale) / 10u128.pow(frac_digits.len() as u32)
        };
        total = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac))
            .and_then(|v| total.checked_add(v))
            .filter(|&t| t <= MAX_NANOS)
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| format!("duration out of range: {s:?}"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// A list as is; null as an empty list; any other value as a list of one.
pub fn to_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// [`to_list`], taking the value.
pub fn into_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// `#[serde(deserialize_with = "…")]` helpers applying the same coercions to typed fields.
pub mod de {
    use std::time::Duration;

    use serde::de::{DeserializeOwned, Error};
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    use super::CoerceError;

    fn custom<E: Error>(e: CoerceError) -> E {
        E::custom(e.message)
    }

    /// Any integer type, from a number or a numeric string.
    pub fn integer<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
        super::to_integer(&Value::deserialize(d)?, "").map_err(custom)
    }

    /// A float, from a number or a numeric string.
    pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        super::to_f64(&Value::deserialize(d)?, "").map_err(custom)
    }

    /// A boolean, from a boolean or `"true"`/`"false"`.
    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        super::to_bool(&Value::deserialize(d)?, "").map_err(custom)
    }

    /// A duration, from Go's syntax or a number of milliseconds.
    pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::to_duration(&Value::deserialize(d)?, "").map_err(custom)
    }

    /// An optional duration (use with `#[serde(default)]`); null is `None`.
    pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => super::to_duration(&v, "").map(Some).map_err(custom),
        }
    }

    /// A list of `T`, or a single `T` as a list of one.
    pub fn one_or_many<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
        super::into_list(Value::deserialize(d)?)
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[test]
    fn integers_from_numbers_and_strings() {
        assert_eq!(to_i64(&json!(8000), "port"), Ok(8000));
        assert_eq!(to_i64(&json!("8000"), "port"), Ok(8000));
        assert_eq!(to_i64(&json!(" -3 "), "n"), Ok(-3));
        assert_eq!(to_i64(&json!(8000.0), "port"), Ok(8000));
        assert_eq!(to_integer::<u16>(&json!("8000"), "port"), Ok(8000));
        assert_eq!(
            to_integer::<u16>(&json!(70000), "port").unwrap_err().to_string(),
            "field \"port\": 70000 is out of range (0 to 65535)"
        );
        assert_eq!(
            to_u64(&json!(-1), "n").unwrap_err().to_string(),
            "field \"n\": -1 is out of range (0 to 18446744073709551615)"
        );
        assert_eq!(
            to_i64(&json!("abc"), "port").unwrap_err().to_string(),
            "field \"port\": expected an integer, found a string (\"abc\")"
        );
        assert_eq!(
            to_i64(&json!(1.5), "n").unwrap_err().message,
            "expected an integer, found a number (1.5)"
        );
        assert!(to_i64(&json!(true), "n").is_err());
        assert!(to_i64(&Value::Null, "n").is_err());
    }

    #[test]
    fn errors_explain_templates_that_did_not_render() {
        let e = to_i64(&json!("<no value>"), "port").unwrap_err();
        assert!(
            e.message
                .ends_with("a template in it used an env key the spec's env does not have"),
            "{e}"
        );
        let e = to_i64(&json!("{{ .PORT }}"), "port").unwrap_err();
        assert!(
            e.message
                .ends_with("templates are only rendered in specs that have an env"),
            "{e}"
        );
        let e = to_duration(&json!("{{ .T }}"), "timeout").unwrap_err();
        assert!(e.message.contains("templates are only rendered"), "{e}");
    }

    #[test]
    fn floats_and_booleans_and_text() {
        assert_eq!(to_f64(&json!("1.5"), "f"), Ok(1.5));
        assert_eq!(to_f64(&json!(2), "f"), Ok(2.0));
        assert!(to_f64(&json!("inf"), "f").is_err());
        assert_eq!(to_bool(&json!("true"), "b"), Ok(true));
        assert_eq!(to_bool(&json!("False"), "b"), Ok(false));
        assert_eq!(to_bool(&json!(true), "b"), Ok(true));
        assert_eq!(
            to_bool(&json!("yes"), "b").unwrap_err().to_string(),
            "field \"b\": expected a boolean, found a string (\"yes\")"
        );
        assert_eq!(to_text(&json!(8000), "s"), Ok("8000".to_string()));
        assert!(to_text(&json!([1]), "s").is_err());
    }

    #[test]
    fn durations_in_go_syntax_or_milliseconds() {
        let d = |v: Value| to_duration(&v, "timeout");
        assert_eq!(d(json!("500ms")), Ok(Duration::from_millis(500)));
        assert_eq!(d(json!("1.5s")), Ok(Duration::from_millis(1500)));
        assert_eq!(d(json!("2m")), Ok(Duration::from_secs(120)));
        assert_eq!(d(json!("1h30m")), Ok(Duration::from_secs(5400)));
        assert_eq!(d(json!("1h0.5m10s")), Ok(Duration::from_secs(3640)));
        assert_eq!(d(json!("250us")), Ok(Duration::from_micros(250)));
        assert_eq!(d(json!("3µs")), Ok(Duration::from_micros(3)));
        assert_eq!(d(json!("7ns")), Ok(Duration::from_nanos(7)));
        assert_eq!(d(json!(".5s")), Ok(Duration::from_millis(500)));
        assert_eq!(d(json!("0")), Ok(Duration::ZERO));
        assert_eq!(d(json!(250)), Ok(Duration::from_millis(250)));
        assert_eq!(d(json!(1.5)), Ok(Duration::from_micros(1500)));
        assert_eq!(d(json!("250")), Ok(Duration::from_millis(250)));
        let msg = |v: Value| d(v).unwrap_err().to_string();
        assert_eq!(
            msg(json!("5 parsecs")),
            "field \"timeout\": unknown unit \" parsecs\" in duration \"5 parsecs\""
        );
        assert_eq!(
            msg(json!("5x")),
            "field \"timeout\": unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(
            msg(json!("1h30")),
            "field \"timeout\": missing unit in duration \"1h30\""
        );
        assert_eq!(
            msg(json!("-1s")),
            "field \"timeout\": invalid duration \"-1s\": negative durations are not allowed"
        );
        assert_eq!(msg(json!(".s")), "field \"timeout\": invalid duration \".s\"");
        assert_eq!(msg(json!("")), "field \"timeout\": invalid duration \"\"");
        assert_eq!(
            msg(json!(-5)),
            "field \"timeout\": invalid duration: -5 milliseconds (must be zero or more)"
        );
        assert!(msg(json!("9999999999h")).contains("out of range"));
        assert!(msg(json!(true)).starts_with("field \"timeout\": expected a duration"));
    }

    #[test]
    fn a_scalar_where_a_list_is_expected_is_a_list_of_one() {
        assert_eq!(to_list(&json!("a")), vec![json!("a")]);
        assert_eq!(to_list(&json!({"k": 1})), vec![json!({"k": 1})]);
        assert_eq!(to_list(&json!([1, 2])), vec![json!(1), json!(2)]);
        assert!(to_list(&Value::Null).is_empty());
        assert_eq!(into_list(json!(3)), vec![json!(3)]);
    }

    #[test]
    fn serde_helpers_coerce_typed_fields() {
        #[derive(Deserialize, Debug)]
        struct Listener {
            #[serde(deserialize_with = "de::integer")]
            port: u16,
            #[serde(deserialize_with = "de::duration")]
            timeout: Duration,
            #[serde(default, deserialize_with = "de::opt_duration")]
            idle: Option<Duration>,
            #[serde(deserialize_with = "de::boolean")]
            tls: bool,
            #[serde(deserialize_with = "de::one_or_many")]
            hosts: Vec<String>,
            #[serde(deserialize_with = "de::float")]
            ratio: f64,
        }
        let l: Listener = serde_json::from_value(json!({
            "port": "8000", "timeout": "1.5s", "tls": "true", "hosts": "localhost", "ratio": "0.5"
        }))
        .unwrap();
        assert_eq!(
            (l.port, l.timeout, l.idle, l.tls, l.ratio),
            (8000, Duration::from_millis(1500), None, true, 0.5)
        );
        assert_eq!(l.hosts, ["localhost"]);
        let e = serde_json::from_value::<Listener>(json!({
            "port": "x", "timeout": 1, "tls": true, "hosts": [], "ratio": 1
        }))
        .unwrap_err();
        assert_eq!(e.to_string(), "expected an integer, found a string (\"x\")");
    }
}
