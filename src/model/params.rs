//! A seeded parameter store: candle's CPU random generator cannot be seeded, so parameters are
//! drawn here from a ChaCha stream keyed by seed and parameter name (deterministic runs).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::VarBuilder;
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use rand::SeedableRng as _;
use rand_distr::{Distribution as _, Normal, Uniform};

/// Named trainable variables, created on first use with a seeded initialiser.
#[derive(Clone)]
pub struct ParamStore {
    vars: Arc<Mutex<BTreeMap<String, Var>>>,
    seed: u64,
}

impl std::fmt::Debug for ParamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParamStore({} tensors)", self.len())
    }
}

impl ParamStore {
    /// An empty store whose new parameters are drawn with this seed.
    pub fn new(seed: u64) -> Self {
        Self {
            vars: Arc::default(),
            seed,
        }
    }

    /// A builder that creates parameters in this store.
    pub fn builder(&self, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), DType::F32, device.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Var>> {
        self.vars.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no parameter was created yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Total number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        self.lock().values().map(|v| v.elem_count()).sum()
    }

    /// All variables, sorted by name.
    pub fn vars(&self) -> Vec<Var> {
        self.lock().values().cloned().collect()
    }

    /// Names and shapes, sorted by name.
    pub fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.dims().to_vec()))
            .collect()
    }

    /// A copy of every value (a snapshot that later training does not change).
    pub fn snapshot(&self) -> Result<BTreeMap<String, Tensor>> {
        self.lock()
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
            .collect()
    }

    /// Overwrite values by name; every name must exist with the same shape.
    pub fn restore(&self, values: &BTreeMap<String, Tensor>) -> Result<()> {
        let vars = self.lock();
        for (name, value) in values {
            match vars.get(name) {
                Some(var) => var.set(value)?,
                None => candle_core::bail!("no parameter named {name}"),
            }
        }
        Ok(())
    }

    fn draw(&self, shape: &Shape, name: &str, init: Init, device: &Device) -> Result<Tensor> {
        let n = shape.elem_count();
        // Mix the name into the seed so that adding a layer does not shift the others.
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        for b in name.bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ hash);
        let wrap = |e: rand_distr::NormalError| candle_core::Error::Msg(e.to_string());
        let uniform = |lo: f64, up: f64, rng: &mut rand_chacha::ChaCha8Rng| -> Result<Vec<f32>> {
            let dist = Uniform::new(lo, up.max(lo + f64::EPSILON))
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            Ok((0..n).map(|_| dist.sample(rng) as f32).collect())
        };
        let values: Vec<f32> = match init {
            Init::Const(c) => vec![c as f32; n],
            Init::Randn { mean, stdev } => {
                let dist = Normal::new(mean, stdev).map_err(wrap)?;
                (0..n).map(|_| dist.sample(&mut rng) as f32).collect()
            }
            Init::Uniform { lo, up } => uniform(lo, up, &mut rng)?,
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        uniform(-bound, bound, &mut rng)?
                    }
                    NormalOrUniform::Normal => {
                        let dist = Normal::new(0.0, std).map_err(wrap)?;
                        (0..n).map(|_| dist.sample(&mut rng) as f32).collect()
                    }
                }
            }
        };
        Tensor::from_vec(values, shape.clone(), device)
    }
}

impl SimpleBackend for ParamStore {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        if let Some(var) = self.lock().get(name) {
            if var.shape() != &s {
                candle_core::bail!(
                    "parameter {name} has shape {:?}, expected {:?}",
                    var.dims(),
                    s.dims()
                );
            }
            return var.as_tensor().to_dtype(dtype);
        }
        let value = self.draw(&s, name, h, dev)?;
        let var = Var::from_tensor(&value)?;
        let tensor = var.as_tensor().clone();
        self.lock().insert(name.to_owned(), var);
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, _dev: &Device) -> Result<Tensor> {
        match self.lock().get(name) {
            Some(var) => var.as_tensor().to_dtype(dtype),
            None => candle_core::bail!("no parameter named {name}"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }
}
