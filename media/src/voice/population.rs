//! Placeholder population statistics (replaced by the generated table).
use super::cepstrum::CEP_DIM;
pub(crate) const MEAN: [f32; CEP_DIM] = [0.0; CEP_DIM];
pub(crate) const WITHIN_COV: [[f32; CEP_DIM]; CEP_DIM] = {
    let mut m = [[0.0f32; CEP_DIM]; CEP_DIM];
    let mut i = 0;
    while i < CEP_DIM {
        m[i][i] = 0.1;
        i += 1;
    }
    m
};
