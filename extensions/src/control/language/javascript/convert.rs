//! Payloads to JavaScript values and back, keeping what JavaScript can hold:
//!
//! | weir | JavaScript | back |
//! |---|---|---|
//! | null | `null` (`undefined` comes back as null too) | null |
//! | bool | boolean | bool |
//! | integer within ±2^53 | number | integer when the number is integral, else float |
//! | integer beyond ±2^53 | `BigInt` (lossless) | integer (a BigInt past 64 bits is an error) |
//! | float | number | as above |
//! | string | string | string |
//! | bytes | `Uint8Array` | bytes |
//! | list | array (holes come back as null) | list |
//! | map | plain object, keys in order (JavaScript lists integer-like keys first) | map |
//! | time | `Date` | time |
//! | error | `Error` with its message | error |
//!
//! Like `JSON.stringify`, properties whose value is `undefined`, a function or a symbol are left out
//! of maps; a function or symbol as the whole result, or in a list, is an unsupported-type error.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rquickjs::{Array, BigInt, Coerced, Constructor, Ctx, Exception, Object, Type, TypedArray};
use weir_engine::{Error, ErrorKind, Map, Value};

/// How deep a value may nest (a cycle would nest forever).
const MAX_DEPTH: usize = 128;
/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE: i64 = (1 << 53) - 1;

type Js<'js> = rquickjs::Value<'js>;

fn engine(e: rquickjs::Error) -> Error {
    Error::new(ErrorKind::Internal, format!("JavaScript engine: {e}"))
}

fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::UnsupportedType,
        format!("a JavaScript {what} cannot be a payload"),
    )
}

fn too_deep() -> Error {
    Error::new(
        ErrorKind::UnsupportedValue,
        format!("the value nests deeper than {MAX_DEPTH} levels (does it refer to itself?)"),
    )
}

/// A payload as a JavaScript value.
pub(super) fn to_js<'js>(ctx: &Ctx<'js>, v: &Value) -> Result<Js<'js>, Error> {
    to_js_at(ctx, v, 0)
}

fn to_js_at<'js>(ctx: &Ctx<'js>, v: &Value, depth: usize) -> Result<Js<'js>, Error> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let c = ctx.clone();
    Ok(match v {
        Value::Null => Js::new_null(c),
        Value::Bool(b) => Js::new_bool(c, *b),
        Value::Int(i) if (-MAX_SAFE..=MAX_SAFE).contains(i) => Js::new_number(c, *i as f64),
        Value::Int(i) => BigInt::from_i64(c, *i).map_err(engine)?.into_value(),
        Value::Uint(u) => BigInt::from_u64(c, *u).map_err(engine)?.into_value(),
        Value::Float(f) => Js::new_float(c, *f),
        Value::String(s) => rquickjs::String::from_str(c, s).map_err(engine)?.into_value(),
        Value::Bytes(b) => TypedArray::<u8>::new_copy(c, b.as_ref())
            .map_err(engine)?
            .into_value(),
        Value::List(items) => {
            let array = Array::new(c).map_err(engine)?;
            for (i, item) in items.iter().enumerate() {
                array.set(i, to_js_at(ctx, item, depth + 1)?).map_err(engine)?;
            }
            array.into_value()
        }
        Value::Map(map) => {
            let object = Object::new(c).map_err(engine)?;
            for (k, item) in map.iter() {
                object
                    .set(k.as_str(), to_js_at(ctx, item, depth + 1)?)
                    .map_err(engine)?;
            }
            object.into_value()
        }
        Value::Time(t) => {
            let ms = match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => millis(d),
                Err(e) => -millis(e.duration()),
            };
            let date: Constructor = ctx.globals().get("Date").map_err(engine)?;
            date.construct((ms,)).map_err(engine)?
        }
        Value::Error(e) => {
            let ex = Exception::from_message(c.clone(), e.message()).map_err(engine)?;
            ex.as_object().set("kind", e.kind().to_string()).map_err(engine)?;
            // uniflow's scripts read an error's text with `err.error()` (Go's `Error()`).
            let text = e.message().to_string();
            let error = rquickjs::Function::new(c.clone(), move || text.clone()).map_err(engine)?;
            ex.as_object().set("error", error).map_err(engine)?;
            ex.into_value()
        }
    })
}

/// A duration in milliseconds, exact for whole milliseconds.
fn millis(d: Duration) -> f64 {
    d.as_secs() as f64 * 1000.0 + f64::from(d.subsec_nanos()) / 1e6
}

/// A JavaScript value as a payload.
pub(super) fn from_js<'js>(ctx: &Ctx<'js>, v: Js<'js>) -> Result<Value, Error> {
    from_js_at(ctx, v, 0)
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE as f64 {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

fn from_js_at<'js>(ctx: &Ctx<'js>, v: Js<'js>, depth: usize) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match v.type_of() {
        Type::Uninitialized | Type::Undefined | Type::Null => Value::Null,
        Type::Bool => Value::Bool(v.as_bool().unwrap_or_default()),
        Type::Int => Value::Int(i64::from(v.as_int().unwrap_or_default())),
        Type::Float => number(v.as_float().unwrap_or(f64::NAN)),
        Type::String => Value::from(v.get::<String>().map_err(engine)?),
        Type::BigInt => {
            let text = v.get::<Coerced<String>>().map_err(engine)?.0;
            if let Ok(i) = text.parse::<i64>() {
                Value::Int(i)
            } else if let Ok(u) = text.parse::<u64>() {
                Value::Uint(u)
            } else {
                return Err(Error::new(
                    ErrorKind::UnsupportedValue,
                    format!("the BigInt {text} does not fit in 64 bits"),
                ));
            }
        }
        Type::Array => {
            let array = v.into_array().ok_or_else(|| unsupported("array-like value"))?;
            let mut items = Vec::with_capacity(array.len());
            for item in array.iter::<Js>() {
                let item = item.map_err(engine)?;
                if item.is_function() || item.is_symbol() {
                    return Err(unsupported("function or symbol in a list"));
                }
                items.push(from_js_at(ctx, item, depth + 1)?);
            }
            Value::list(items)
        }
        Type::Exception => {
            let object = v.into_object().ok_or_else(|| unsupported("error"))?;
            let message: Option<String> = object.get("message").map_err(engine)?;
            Value::Error(Error::node(message.unwrap_or_default()))
        }
        Type::Object | Type::Proxy => {
            let object = v.into_object().ok_or_else(|| unsupported("object"))?;
            object_value(ctx, object, depth)?
        }
        Type::Function | Type::Constructor => return Err(unsupported("function")),
        Type::Symbol => return Err(unsupported("symbol")),
        Type::Promise => return Err(unsupported("promise (nested in the result, it is not awaited)")),
        other => return Err(unsupported(other.as_str())),
    })
}

/// A plain object as a map; a `Date` as a time; a `Uint8Array` as bytes.
fn object_value<'js>(ctx: &Ctx<'js>, object: Object<'js>, depth: usize) -> Result<Value, Error> {
    let date: Js = ctx.globals().get("Date").map_err(engine)?;
    if object.is_instance_of(&date) {
        let get_time: rquickjs::Function = object.get("getTime").map_err(engine)?;
        let ms: f64 = get_time
            .call((rquickjs::function::This(object.clone()),))
            .map_err(engine)?;
        if !ms.is_finite() {
            return Err(Error::new(
                ErrorKind::UnsupportedValue,
                "an invalid Date cannot be a payload",
            ));
        }
        // Whole milliseconds exactly, the fraction to the nanosecond.
        let whole = ms.abs().trunc();
        let offset = Duration::from_millis(whole as u64)
            + Duration::from_nanos(((ms.abs() - whole) * 1e6).round() as u64);
        let t = if ms >= 0.0 {
            SystemTime::UNIX_EPOCH.checked_add(offset)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(offset)
        };
        return t
            .map(Value::Time)
            .ok_or_else(|| Error::new(ErrorKind::UnsupportedValue, "the Date is out of range"));
    }
    if object.is_typed_array::<u8>() {
        let array = TypedArray::<u8>::from_object(object).map_err(engine)?;
        let mut bytes = Vec::with_capacity(array.len());
        let object = array.as_object();
        for i in 0..array.len() {
            bytes.push(object.get::<_, u8>(i as u32).map_err(engine)?);
        }
        return Ok(Value::Bytes(bytes::Bytes::from(bytes)));
    }
    let mut map = Map::new();
    for prop in object.props::<String, Js>() {
        let (key, item) = prop.map_err(engine)?;
        if item.is_undefined() || item.is_function() || item.is_symbol() {
            continue;
        }
        map.insert(key, from_js_at(ctx, item, depth + 1)?);
    }
    Ok(Value::Map(Arc::new(map)))
}
