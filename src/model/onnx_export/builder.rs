//! A small ONNX graph builder: fresh value names, nodes with their attributes, initializers made
//! from candle tensors or constants, and the typed graph inputs and outputs.

use std::collections::HashMap;

use candle_core::{DType, Tensor};

use super::proto::{
    AttributeProto, Dimension, FLOAT, GraphProto, INT64, NodeProto, TensorProto, TensorShapeProto,
    TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type,
};

/// One axis of a graph input or output: a fixed size or a named variable one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size known only at run time, by name (e.g. `text_length`).
    Named(&'static str),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Named(name) => f.write_str(name),
        }
    }
}

/// An integer attribute.
pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        i: Some(value),
        r#type: Some(attribute_type::INT),
        ..AttributeProto::default()
    }
}

/// An integer-list attribute.
pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        ints: values.to_vec(),
        r#type: Some(attribute_type::INTS),
        ..AttributeProto::default()
    }
}

/// A float attribute.
pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        f: Some(value),
        r#type: Some(attribute_type::FLOAT),
        ..AttributeProto::default()
    }
}

/// A string attribute.
pub fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        s: Some(value.as_bytes().to_vec()),
        r#type: Some(attribute_type::STRING),
        ..AttributeProto::default()
    }
}

fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => Dimension {
                dim_value: Some(*n as i64),
                dim_param: None,
            },
            Dim::Named(p) => Dimension {
                dim_value: None,
                dim_param: Some((*p).to_owned()),
            },
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// A graph under construction. Ops return the name of the value they produce.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    next: usize,
    /// Constants already made, by contents, so that each is stored once.
    constants: HashMap<(i32, Vec<i64>, Vec<u8>), String>,
}

impl Graph {
    /// A new value name starting with `hint`.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// Declare a graph input.
    pub fn input(&mut self, name: &str, elem_type: i32, dims: &[Dim]) -> String {
        self.inputs.push(value_info(name, elem_type, dims));
        name.to_owned()
    }

    /// Declare `value` as the graph output `name` (through an `Identity` node).
    pub fn output(&mut self, value: &str, name: &str, dims: &[Dim]) {
        self.nodes.push(NodeProto {
            input: vec![value.to_owned()],
            output: vec![name.to_owned()],
            name: Some(format!("output_{name}")),
            op_type: Some("Identity".to_owned()),
            attribute: Vec::new(),
        });
        self.outputs.push(value_info(name, FLOAT, dims));
    }

    /// A node with `outputs` outputs.
    pub fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: usize,
        attribute: Vec<AttributeProto>,
    ) -> Vec<String> {
        let hint = op.to_lowercase();
        let names: Vec<String> = (0..outputs).map(|_| self.fresh(&hint)).collect();
        let name = format!("{op}_{}", self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: names.clone(),
            name: Some(name),
            op_type: Some(op.to_owned()),
            attribute,
        });
        names
    }

    /// A node with one output.
    pub fn op(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        self.op_n(op, inputs, 1, attribute)
            .pop()
            .unwrap_or_default()
    }

    fn initializer(&mut self, hint: &str, data_type: i32, dims: Vec<i64>, raw: Vec<u8>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims,
            data_type: Some(data_type),
            name: Some(name.clone()),
            raw_data: Some(raw),
        });
        name
    }

    /// A small constant, stored once however often it is asked for.
    fn constant(&mut self, hint: &str, data_type: i32, dims: Vec<i64>, raw: Vec<u8>) -> String {
        let key = (data_type, dims, raw);
        if let Some(name) = self.constants.get(&key) {
            return name.clone();
        }
        let name = self.initializer(hint, data_type, key.1.clone(), key.2.clone());
        self.constants.insert(key, name.clone());
        name
    }

    /// A small f32 constant of shape `dims`.
    pub fn floats(&mut self, hint: &str, dims: &[usize], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let dims = dims.iter().map(|&d| d as i64).collect();
        self.constant(hint, FLOAT, dims, raw)
    }

    /// A 0-d f32 constant.
    pub fn scalar(&mut self, value: f32) -> String {
        self.floats("const", &[], &[value])
    }

    /// A 1-d int64 constant (shapes, axes, indices).
    pub fn int64s(&mut self, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant("ints", INT64, vec![values.len() as i64], raw)
    }

    /// A 0-d int64 constant (a `Gather` index that drops the axis).
    pub fn int64_scalar(&mut self, value: i64) -> String {
        self.constant("index", INT64, Vec::new(), value.to_le_bytes().to_vec())
    }

    /// An initializer holding `tensor`'s values (any shape, converted to f32).
    pub fn tensor(&mut self, hint: &str, tensor: &Tensor) -> candle_core::Result<String> {
        let dims = tensor.dims().iter().map(|&d| d as i64).collect();
        let values = tensor
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(self.initializer(hint, FLOAT, dims, raw))
    }

    /// Number of nodes so far.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The finished graph.
    pub fn finish(self, name: &str) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: Some(name.to_owned()),
            initializer: self.initializers,
            doc_string: None,
            input: self.inputs,
            output: self.outputs,
        }
    }

    // Element-wise and shape operators, named after their ONNX ops.

    /// `a + b` (broadcasting).
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], Vec::new())
    }

    /// `a − b` (broadcasting).
    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.op("Sub", &[a, b], Vec::new())
    }

    /// `a · b` (broadcasting).
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], Vec::new())
    }

    /// `a / b` (broadcasting).
    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.op("Div", &[a, b], Vec::new())
    }

    /// Matrix product (batched, broadcasting).
    pub fn matmul(&mut self, a: &str, b: &str) -> String {
        self.op("MatMul", &[a, b], Vec::new())
    }

    /// A unary op (`Relu`, `Tanh`, `Sigmoid`, `Exp`, `Log`, `Sqrt`, `Abs`, …).
    pub fn unary(&mut self, op: &str, x: &str) -> String {
        self.op(op, &[x], Vec::new())
    }

    /// Softmax over `axis`.
    pub fn softmax(&mut self, x: &str, axis: i64) -> String {
        self.op("Softmax", &[x], vec![int("axis", axis)])
    }

    /// Reshape to `shape` (0 keeps an axis, −1 is inferred).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let shape = self.int64s(shape);
        self.op("Reshape", &[x, &shape], Vec::new())
    }

    /// Permute the axes.
    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![ints("perm", perm)])
    }

    /// Join along `axis`.
    pub fn concat(&mut self, parts: &[&str], axis: i64) -> String {
        self.op("Concat", parts, vec![int("axis", axis)])
    }

    /// `x[starts..ends]` along `axes` (negative positions count from the end).
    pub fn slice(&mut self, x: &str, starts: &[i64], ends: &[i64], axes: &[i64]) -> String {
        let (s, e, a) = (self.int64s(starts), self.int64s(ends), self.int64s(axes));
        self.op("Slice", &[x, &s, &e, &a], Vec::new())
    }

    /// Sum over `axes` (an input since opset 13).
    pub fn reduce_sum(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        let axes = self.int64s(axes);
        self.op(
            "ReduceSum",
            &[x, &axes],
            vec![int("keepdims", i64::from(keepdims))],
        )
    }

    /// Mean over `axes` (an attribute until opset 18).
    pub fn reduce_mean(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        self.op(
            "ReduceMean",
            &[x],
            vec![ints("axes", axes), int("keepdims", i64::from(keepdims))],
        )
    }

    /// Insert unit axes.
    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let axes = self.int64s(axes);
        self.op("Unsqueeze", &[x, &axes], Vec::new())
    }

    /// Remove unit axes.
    pub fn squeeze(&mut self, x: &str, axes: &[i64]) -> String {
        let axes = self.int64s(axes);
        self.op("Squeeze", &[x, &axes], Vec::new())
    }

    /// `x[.., index, ..]` along `axis`, dropping that axis.
    pub fn pick(&mut self, x: &str, index: i64, axis: i64) -> String {
        let index = self.int64_scalar(index);
        self.op("Gather", &[x, &index], vec![int("axis", axis)])
    }

    /// Append one entry of `value` to the last axis of a 2-d `x` (`[x; value]`).
    pub fn append_constant(&mut self, x: &str, value: f32) -> String {
        let pads = self.int64s(&[0, 0, 0, 1]);
        let value = self.scalar(value);
        self.op("Pad", &[x, &pads, &value], Vec::new())
    }
}
