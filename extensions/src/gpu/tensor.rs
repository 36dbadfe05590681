//! Tensors as packet values: a map `{shape: [d0, d1, ..], data: [x0, x1, ..]}`, row-major, `data`
//! holding the product of `shape` numbers (an empty `shape` is a scalar of one number). Numbers in
//! and out are JSON numbers; they are computed as f32, so a value beyond f32's range is refused and
//! others are rounded to the nearest f32. Chosen over raw bytes so that tensors read and write as
//! plain JSON through HTTP, snippets and the job API.

use weir_cuda::Tensor;
use weir_engine::{Error, ErrorKind, Value};

/// The tensor `value` holds, or why it holds none (`what` names it in the error: `input`, `input[1]`).
pub fn value_tensor(value: &Value, what: &str) -> Result<Tensor, Error> {
    let bad_type = |msg: String| Error::new(ErrorKind::UnsupportedType, format!("{what}: {msg}"));
    let bad_value = |msg: String| Error::new(ErrorKind::UnsupportedValue, format!("{what}: {msg}"));
    let Some(map) = value.as_map() else {
        return Err(bad_type(format!(
            "a tensor is a map {{shape, data}}, got {}",
            value.type_name()
        )));
    };
    let field = |key: &str| match map.get(key).map(|v| (v, v.as_list())) {
        Some((_, Some(items))) => Ok(items),
        Some((v, None)) => Err(bad_type(format!("{key} must be a list, got {}", v.type_name()))),
        None => Err(bad_type(format!("a tensor needs {key}"))),
    };
    let shape = field("shape")?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            size(d).ok_or_else(|| {
                bad_value(format!(
                    "shape[{i}] must be a size (an integer ≥ 0), got {}",
                    d.to_json()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = field("data")?
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let f = x
                .as_f64()
                .ok_or_else(|| bad_type(format!("data[{i}] must be a number, got {}", x.type_name())))?;
            let g = f as f32;
            if g.is_finite() {
                Ok(g)
            } else {
                Err(bad_value(format!("data[{i}]: {f} is beyond f32's range")))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Tensor::new(shape, data).map_err(|e| bad_value(e.to_string()))
}

/// A size: a non-negative integer, also as an integral float (what a script's numbers may be).
fn size(v: &Value) -> Option<usize> {
    match v {
        Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64 => Some(*f as usize),
        _ => v.as_i64().and_then(|d| usize::try_from(d).ok()),
    }
}

/// `tensor` as a packet value.
pub fn tensor_value(tensor: Tensor) -> Value {
    let (shape, data) = tensor.into_parts();
    Value::map([
        ("shape", Value::list(shape.into_iter().map(Value::from))),
        (
            "data",
            Value::list(data.into_iter().map(|x| Value::Float(f64::from(x)))),
        ),
    ])
}
