//! The KV cache: one preallocated buffer per layer, written in place. `fork` makes an
//! independent copy (so continuations after a kept prefix never share or recompute it), and
//! `truncate` rewinds to a shorter prefix.

use candle_core::{DType, Device, Result, Tensor};

#[derive(Debug)]
struct LayerCache {
    /// (kv_heads, capacity, head_dim)
    k: Tensor,
    v: Tensor,
}

#[derive(Debug)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
    len: usize,
    max_len: usize,
}

const INITIAL_CAPACITY: usize = 256;

impl KvCache {
    pub fn new(num_layers: usize, max_len: usize) -> KvCache {
        KvCache { layers: (0..num_layers).map(|_| None).collect(), len: 0, max_len }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the buffers can hold before they grow (the largest over layers).
    pub fn capacity(&self) -> usize {
        (0..self.layers.len()).map(|l| self.capacity_for(l)).max().unwrap_or(0)
    }

    /// Largest number of positions the model supports.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Forgets everything after the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// An independent copy of the cached prefix.
    pub fn fork(&self) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                Some(l) => Ok(Some(LayerCache { k: l.k.copy()?, v: l.v.copy()? })),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers, len: self.len, max_len: self.max_len })
    }

    /// Appends `k`, `v` of shape (kv_heads, t, head_dim) for `layer` at the current length and
    /// returns views of everything cached for it. Call `advance(t)` after the last layer.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (kv_heads, t, head_dim) = k.dims3()?;
        let needed = self.len + t;
        if needed > self.capacity_for(layer) {
            self.grow(layer, needed, kv_heads, head_dim, k.dtype(), k.device())?;
        }
        let lc = self.layers[layer].as_ref().expect("grown above");
        lc.k.slice_set(&k.contiguous()?, 1, self.len)?;
        lc.v.slice_set(&v.contiguous()?, 1, self.len)?;
        Ok((lc.k.narrow(1, 0, needed)?, lc.v.narrow(1, 0, needed)?))
    }

    /// Moves the length forward once every layer has appended `t` positions.
    pub fn advance(&mut self, t: usize) {
        self.len += t;
    }

    fn capacity_for(&self, layer: usize) -> usize {
        self.layers[layer].as_ref().map_or(0, |l| l.k.dim(1).unwrap_or(0))
    }

    fn grow(
        &mut self,
        layer: usize,
        needed: usize,
        heads: usize,
        dim: usize,
        dtype: DType,
        dev: &Device,
    ) -> Result<()> {
        let cap = needed.next_power_of_two().max(INITIAL_CAPACITY).min(self.max_len.max(needed));
        let k = Tensor::zeros((heads, cap, dim), dtype, dev)?;
        let v = Tensor::zeros((heads, cap, dim), dtype, dev)?;
        if let Some(old) = &self.layers[layer] {
            if self.len > 0 {
                k.slice_set(&old.k.narrow(1, 0, self.len)?.contiguous()?, 1, 0)?;
                v.slice_set(&old.v.narrow(1, 0, self.len)?.contiguous()?, 1, 0)?;
            }
        }
        self.layers[layer] = Some(LayerCache { k, v });
        Ok(())
    }
}
