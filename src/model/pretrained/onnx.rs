//! A minimal ONNX reader: the graph's nodes, their attributes and its initializers, enough for a
//! converter to check a graph's structure and take its weights.
//!
//! The messages are hand-declared with `prost` derive, with the field numbers of `onnx.proto`
//! (ONNX 1.x), because candle-onnx generates them with `prost-build` in its build script, which
//! needs a `protoc` binary at build time, and we need only these few messages anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use prost::Message as _;

use super::PretrainedError;

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
const INT64: i32 = 7;

/// `ModelProto`: only the graph.
#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

/// `GraphProto`.
#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

/// `ValueInfoProto`: only the name.
#[derive(Clone, PartialEq, prost::Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
}

/// `NodeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NodeProto {
    /// Input value names.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name.
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator, e.g. `Conv`.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// `AttributeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// A float value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// An integer value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// A string value (bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// A tensor value (`Constant.value`).
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// Float list.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// Integer list.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// `AttributeType` (1 float, 2 int, 3 string, 4 tensor, 6 floats, 7 ints).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// `TensorProto`, without external data.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorProto {
    /// Shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// `DataType` (1 float, 7 int64).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Values when not in `raw_data`.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Values when not in `raw_data`.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// Name (initializers).
    #[prost(string, tag = "8")]
    pub name: String,
    /// Little-endian values.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

/// A parsed ONNX graph, with the file it came from for error messages.
pub(crate) struct Graph {
    path: PathBuf,
    /// The nodes in graph (topological) order.
    pub nodes: Vec<NodeProto>,
    initializers: HashMap<String, TensorProto>,
    /// Names of the graph inputs that are not initializers.
    pub inputs: Vec<String>,
    /// Names of the graph outputs.
    pub outputs: Vec<String>,
}

impl Graph {
    /// Reads and parses an ONNX model file.
    pub fn read(path: &Path) -> Result<Self, PretrainedError> {
        let bytes = std::fs::read(path).map_err(|e| PretrainedError::io(path, e))?;
        Self::parse(&bytes, path)
    }

    /// Parses ONNX model bytes; `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, PretrainedError> {
        let model = ModelProto::decode(bytes).map_err(|e| {
            PretrainedError::format(path, format!("not an ONNX model (protobuf): {e}"))
        })?;
        let graph = model.graph.filter(|g| !g.node.is_empty()).ok_or_else(|| {
            PretrainedError::format(path, "not an ONNX model: it has no graph nodes")
        })?;
        let initializers: HashMap<_, _> = graph
            .initializer
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let inputs = graph
            .input
            .into_iter()
            .map(|v| v.name)
            .filter(|n| !initializers.contains_key(n))
            .collect();
        Ok(Self {
            path: path.to_owned(),
            nodes: graph.node,
            initializers,
            inputs,
            outputs: graph.output.into_iter().map(|v| v.name).collect(),
        })
    }

    /// A [`PretrainedError::Format`] naming this graph's file.
    pub fn error(&self, message: impl Into<String>) -> PretrainedError {
        PretrainedError::format(&self.path, message)
    }

    /// The node that produces value `name`.
    pub fn producer(&self, name: &str) -> Option<&NodeProto> {
        self.nodes
            .iter()
            .find(|n| n.output.iter().any(|o| o == name))
    }

    /// The initializer `name` as an F32 tensor of its shape.
    pub fn initializer(&self, name: &str, device: &Device) -> Result<Tensor, PretrainedError> {
        let tensor = self
            .initializers
            .get(name)
            .ok_or_else(|| self.error(format!("no initializer '{name}'")))?;
        self.tensor(tensor, device)
    }

    /// The value `name` when it is constant: an initializer or the output of a `Constant` node.
    pub fn constant(&self, name: &str, device: &Device) -> Result<Tensor, PretrainedError> {
        if self.initializers.contains_key(name) {
            return self.initializer(name, device);
        }
        let node = self
            .producer(name)
            .filter(|n| n.op_type == "Constant")
            .ok_or_else(|| self.error(format!("'{name}' is not a constant")))?;
        let value = attribute(node, "value")
            .and_then(|a| a.t.as_ref())
            .ok_or_else(|| {
                self.error(format!(
                    "Constant node '{}' has no tensor 'value'",
                    node.name
                ))
            })?;
        self.tensor(value, device)
    }

    /// A FLOAT or INT64 tensor as F32 (the INT64 values here are small shapes and axes).
    fn tensor(&self, t: &TensorProto, device: &Device) -> Result<Tensor, PretrainedError> {
        let shape = t
            .dims
            .iter()
            .map(|&d| {
                usize::try_from(d)
                    .map_err(|_| self.error(format!("'{}' has dimension {d}", t.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let count: usize = shape.iter().product();
        let values: Vec<f32> = match t.data_type {
            FLOAT if !t.raw_data.is_empty() => t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            FLOAT => t.float_data.clone(),
            INT64 if !t.raw_data.is_empty() => t
                .raw_data
                .chunks_exact(8)
                .map(|b| {
                    i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
            INT64 => t.int64_data.iter().map(|&v| v as f32).collect(),
            other => {
                return Err(self.error(format!(
                    "'{}' has data type {other}; expected float or int64",
                    t.name
                )));
            }
        };
        if values.len() != count {
            let message = format!(
                "'{}' holds {} values for shape {shape:?}",
                t.name,
                values.len()
            );
            return Err(self.error(message));
        }
        Ok(Tensor::from_vec(values, shape, device)?)
    }
}

/// The attribute `name` of a node.
pub(crate) fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

// Checks a converter makes on a graph's structure; each error names the file.

/// The non-`Constant` nodes of a graph.
pub(crate) fn ops(graph: &Graph) -> Vec<&NodeProto> {
    graph
        .nodes
        .iter()
        .filter(|n| n.op_type != "Constant")
        .collect()
}

/// Checks that the graph has exactly one input and one output, with these names.
pub(crate) fn check_identity(
    graph: &Graph,
    input: &str,
    output: &str,
) -> Result<(), PretrainedError> {
    if graph.inputs == [input] && graph.outputs == [output] {
        Ok(())
    } else {
        let (i, o) = (&graph.inputs, &graph.outputs);
        Err(graph.error(format!("unexpected graph: inputs {i:?} and outputs {o:?}, expected ['{input}'] and ['{output}']")))
    }
}

/// Checks that the sequence of operators is `expected`.
pub(crate) fn check_ops(
    graph: &Graph,
    nodes: &[&NodeProto],
    expected: &[&str],
) -> Result<(), PretrainedError> {
    let found: Vec<&str> = nodes.iter().map(|n| n.op_type.as_str()).collect();
    if found == expected {
        Ok(())
    } else {
        Err(graph.error(format!(
            "unexpected graph: operators {found:?}, expected {expected:?}"
        )))
    }
}

/// Input `index` of `node` as a constant tensor.
pub(crate) fn constant_input(
    graph: &Graph,
    node: &NodeProto,
    index: usize,
    device: &Device,
) -> Result<Tensor, PretrainedError> {
    let name = node.input.get(index).ok_or_else(|| {
        graph.error(format!(
            "{} node '{}' has no input {index}",
            node.op_type, node.name
        ))
    })?;
    graph.constant(name, device)
}

/// Checks that input `index` of `node` is the scalar `value` (within f32 rounding).
pub(crate) fn check_scalar(
    graph: &Graph,
    node: &NodeProto,
    index: usize,
    value: f32,
) -> Result<(), PretrainedError> {
    let found = constant_input(graph, node, index, &Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let matches = match found.as_slice() {
        [v] => v == &value || (v - value).abs() <= 1e-6 * value.abs(),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(graph.error(format!(
            "{} node '{}': constant {found:?}, expected {value}",
            node.op_type, node.name
        )))
    }
}

/// Checks an integer-list attribute; `absent` is what its absence means.
pub(crate) fn check_ints(
    graph: &Graph,
    node: &NodeProto,
    name: &str,
    expected: &[i64],
    absent: &[i64],
) -> Result<(), PretrainedError> {
    let found = attribute(node, name).map_or(absent, |a| a.ints.as_slice());
    if found == expected {
        Ok(())
    } else {
        Err(graph.error(format!(
            "{} node '{}': {name} {found:?}, expected {expected:?}",
            node.op_type, node.name
        )))
    }
}

/// Checks a tensor's shape.
pub(crate) fn check_shape(
    graph: &Graph,
    what: &str,
    t: &Tensor,
    expected: &[usize],
) -> Result<(), PretrainedError> {
    if t.dims() == expected {
        Ok(())
    } else {
        Err(graph.error(format!(
            "{what}: shape {:?}, expected {expected:?}",
            t.dims()
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_format_error_naming_the_file() {
        let path = Path::new("broken.onnx");
        for bytes in [
            &b"\xff\xff\xff\xff not protobuf"[..],
            b"",
            &[0x3a, 0x05, 0x0a],
        ] {
            match Graph::parse(bytes, path) {
                Err(PretrainedError::Format { path: p, message }) => {
                    assert_eq!(p, path);
                    assert!(message.contains("ONNX"), "{message}");
                }
                Err(other) => panic!("expected a format error, got {other}"),
                Ok(_) => panic!("garbage parsed as a graph"),
            }
        }
    }

    #[test]
    fn reads_raw_and_listed_floats_and_constant_nodes() {
        let raw = TensorProto {
            dims: vec![2],
            data_type: FLOAT,
            name: "w".into(),
            raw_data: [1.5f32, -2.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            ..Default::default()
        };
        let listed = TensorProto {
            dims: vec![],
            data_type: FLOAT,
            float_data: vec![80.0],
            ..Default::default()
        };
        let constant = NodeProto {
            output: vec!["c".into()],
            op_type: "Constant".into(),
            attribute: vec![AttributeProto {
                name: "value".into(),
                t: Some(listed),
                r#type: 4,
                ..Default::default()
            }],
            ..Default::default()
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                node: vec![constant],
                initializer: vec![raw],
                ..Default::default()
            }),
        };
        let graph = Graph::parse(&model.encode_to_vec(), Path::new("m.onnx")).unwrap();
        let w = graph.initializer("w", &Device::Cpu).unwrap();
        assert_eq!(w.to_vec1::<f32>().unwrap(), [1.5, -2.0]);
        assert_eq!(
            graph
                .constant("c", &Device::Cpu)
                .unwrap()
                .to_vec0::<f32>()
                .unwrap(),
            80.0
        );
        assert!(graph.constant("w2", &Device::Cpu).is_err());
    }
}
