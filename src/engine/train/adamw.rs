//! AdamW on the CPU over plain vectors. candle-nn's `AdamW` takes a dozen tensor operations per
//! weight tensor, and the gradient norm and the finiteness check three more each: a few hundred
//! small operations on one core while the other waits for the next step, an eighth of a step.
//! Here one pass per tensor reads its gradient, and one more updates the weight and both
//! moments with candle-nn's rule and defaults (β₁ 0.9, β₂ 0.999, ε 1e-8, decoupled decay).

use candle_core::{Tensor, Var};

/// The update's outcome.
pub(super) enum Update {
    /// Applied; the weights from before it, per updated tensor (index into the variables).
    Applied(Vec<(usize, Tensor)>),
    /// The new weights were not all finite; nothing was changed.
    Overflowed,
}

/// AdamW state over `vars` (moments per element, zero at the start).
pub(super) struct FusedAdamW {
    vars: Vec<Var>,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    steps: i32,
    weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl FusedAdamW {
    /// Zero moments for every variable.
    pub(super) fn new(vars: Vec<Var>, weight_decay: f64) -> Self {
        let zeros = |v: &Var| vec![0f32; v.elem_count()];
        Self {
            first: vars.iter().map(zeros).collect(),
            second: vars.iter().map(zeros).collect(),
            vars,
            steps: 0,
            weight_decay,
        }
    }

    /// Every variable's gradient as a vector (`None` where it has none).
    pub(super) fn read(
        &self,
        grads: &candle_core::backprop::GradStore,
    ) -> candle_core::Result<Vec<Option<Vec<f32>>>> {
        self.vars
            .iter()
            .map(|v| grads.get(v).map(|g| g.flatten_all()?.to_vec1()).transpose())
            .collect()
    }

    /// One step at learning rate `lr` with the gradients multiplied by `scale` (clipping).
    pub(super) fn step(
        &mut self,
        grads: &[Option<Vec<f32>>],
        scale: f64,
        lr: f64,
    ) -> candle_core::Result<Update> {
        let t = self.steps + 1;
        let (scale_m, scale_v) = (
            1.0 / (1.0 - BETA1.powi(t)) as f32,
            1.0 / (1.0 - BETA2.powi(t)) as f32,
        );
        let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, EPS as f32);
        let (decay, lr32, scale) = (
            (1.0 - lr * self.weight_decay) as f32,
            lr as f32,
            scale as f32,
        );
        // New weights and moments first; nothing is kept unless every weight is finite.
        let mut next = Vec::new();
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else { continue };
            let old: Vec<f32> = self.vars[i].as_tensor().flatten_all()?.to_vec1()?;
            let (mut w, mut m, mut v) =
                (old.clone(), self.first[i].clone(), self.second[i].clone());
            let mut finite = true;
            for (((w, m), v), &g) in w.iter_mut().zip(&mut m).zip(&mut v).zip(g) {
                let g = g * scale;
                *m = *m * b1 + g * (1.0 - b1);
                *v = *v * b2 + g * g * (1.0 - b2);
                let adjusted = (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
                *w = *w * decay - adjusted * lr32;
                finite &= w.is_finite();
            }
            if !finite {
                return Ok(Update::Overflowed);
            }
            next.push((i, old, w, m, v));
        }
        self.steps = t;
        let mut before = Vec::with_capacity(next.len());
        for (i, old, w, m, v) in next {
            let var = &self.vars[i];
            let (shape, dev) = (var.shape().clone(), var.device().clone());
            var.set(&Tensor::from_vec(w, shape.clone(), &dev)?)?;
            (self.first[i], self.second[i]) = (m, v);
            before.push((i, Tensor::from_vec(old, shape, &dev)?));
        }
        Ok(Update::Applied(before))
    }

    /// The variables, in the order the updates index them.
    pub(super) fn vars(&self) -> &[Var] {
        &self.vars
    }
}
