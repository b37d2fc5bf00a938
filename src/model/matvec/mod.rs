//! Our CPU kernels for GGUF weight blocks: y = W·x for one token (decode) and for many tokens
//! (prefill, scoring), read straight from the file's blocks, so no dense f32 copy is kept.
//!
//! Activations are quantized once per call to 8-bit blocks of 32 (scale and sum per block),
//! and every weight row is an integer dot product per block scaled in f32, the scheme llama.cpp
//! uses. Types: Q4_1, Q5_0, Q8_0 (blocks of 32) and Q4_K, Q6_K (super-blocks of 256, whose
//! sub-blocks line up with the activation blocks). AVX2 where the CPU has it, chosen at run
//! time; a scalar loop otherwise.
//!
//! Many tokens share each weight row load: a row is unpacked once per block and dotted with up
//! to four tokens. Each token's sums run in the same order whatever the batch, so a token's
//! output does not depend on how a sequence was split into calls.
//!
//! Rows are shared out over candle's persistent worker pool; several matrices that read the same
//! input (q, k and v; gate and up) go out as one job, one wake-up instead of three.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod simd;

use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::quantized::{GgmlDType, QTensor};

/// Elements per activation block (and per small weight block).
pub const BLOCK: usize = 32;
/// Tokens dotted with one weight row load.
const GROUP: usize = 4;
/// Rows dequantized at a time on the dense route (bounds its scratch memory).
const DENSE_TILE: usize = 4096;

/// The GGUF block layouts these kernels read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocks {
    /// f16 d, f16 m, 16 bytes of nibbles (element j low nibble, j+16 high): d·q + m.
    Q4_1,
    /// f16 d, 32 high bits, 16 bytes of nibbles: d·(q − 16), q five bits.
    Q5_0,
    /// f16 d, 32 signed bytes: d·q.
    Q8_0,
    /// 256 values: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32,
    /// 128 bytes of nibbles: d·sc·q − dmin·m.
    Q4K,
    /// 256 values: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 signed 8-bit scales (one
    /// per 16 values), f16 d: d·sc·(q − 32), q six bits.
    Q6K,
}

impl Blocks {
    pub fn of(dtype: GgmlDType) -> Option<Blocks> {
        Some(match dtype {
            GgmlDType::Q4_1 => Blocks::Q4_1,
            GgmlDType::Q5_0 => Blocks::Q5_0,
            GgmlDType::Q8_0 => Blocks::Q8_0,
            GgmlDType::Q4K => Blocks::Q4K,
            GgmlDType::Q6K => Blocks::Q6K,
            _ => return None,
        })
    }

    /// Bytes of one block.
    pub fn bytes(self) -> usize {
        match self {
            Blocks::Q4_1 => 20,
            Blocks::Q5_0 => 22,
            Blocks::Q8_0 => 34,
            Blocks::Q4K => 144,
            Blocks::Q6K => 210,
        }
    }

    /// Values in one block.
    pub fn values(self) -> usize {
        match self {
            Blocks::Q4K | Blocks::Q6K => 256,
            _ => BLOCK,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Blocks::Q4_1 => "q4_1",
            Blocks::Q5_0 => "q5_0",
            Blocks::Q8_0 => "q8_0",
            Blocks::Q4K => "q4k",
            Blocks::Q6K => "q6k",
        }
    }
}

/// A (rows, cols) weight matrix as raw GGUF blocks, row-major.
pub struct QuantMatrix {
    blocks: Blocks,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

/// Activation rows quantized to 8-bit blocks: q = round(x / d) per block of 32, `scales[b]` = d,
/// `sums[b]` = d·Σq (for the terms of weights with an offset or a minimum).
pub struct Acts {
    rows: usize,
    cols: usize,
    q: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<f32>,
}

/// One quantized activation row.
#[derive(Clone, Copy)]
pub(crate) struct ActRow<'a> {
    pub q: &'a [i8],
    pub scales: &'a [f32],
    pub sums: &'a [f32],
}

impl Acts {
    /// Quantizes `rows` rows of `cols` values (row-major).
    pub fn quantize(x: &[f32], cols: usize) -> Acts {
        assert!(cols.is_multiple_of(BLOCK) && x.len().is_multiple_of(cols), "activation shape");
        let n = x.len() / BLOCK;
        let mut a = Acts {
            rows: x.len() / cols,
            cols,
            q: Vec::with_capacity(x.len()),
            scales: Vec::with_capacity(n),
            sums: Vec::with_capacity(n),
        };
        for block in x.chunks_exact(BLOCK) {
            let amax = block.iter().fold(0f32, |m, a| m.max(a.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            // The scale is kept at f16 precision, as candle's and llama.cpp's 8-bit activation
            // blocks keep it.
            let d = half::f16::from_f32(d).to_f32();
            let mut sum = 0i32;
            for v in block {
                let q = (v * inv).round() as i8;
                sum += q as i32;
                a.q.push(q);
            }
            a.scales.push(d);
            a.sums.push(d * sum as f32);
        }
        a
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn row(&self, i: usize) -> ActRow<'_> {
        let nb = self.cols / BLOCK;
        ActRow {
            q: &self.q[i * self.cols..(i + 1) * self.cols],
            scales: &self.scales[i * nb..(i + 1) * nb],
            sums: &self.sums[i * nb..(i + 1) * nb],
        }
    }
}

impl QuantMatrix {
    /// Takes a 2-D GGUF tensor (out, in) of a type these kernels read; None for other types.
    pub fn from_qtensor(t: &QTensor) -> candle_core::Result<Option<QuantMatrix>> {
        let Some(blocks) = Blocks::of(t.dtype()) else { return Ok(None) };
        let (rows, cols) = t.shape().dims2()?;
        if cols % blocks.values() != 0 {
            return Ok(None);
        }
        let data = t.data()?.into_owned();
        if data.len() != rows * cols / blocks.values() * blocks.bytes() {
            return Ok(None);
        }
        Ok(Some(QuantMatrix { blocks, rows, cols, data }))
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn blocks(&self) -> Blocks {
        self.blocks
    }

    /// Bytes the blocks take.
    pub fn size_bytes(&self) -> usize {
        self.data.len()
    }

    fn row_bytes(&self, r: usize) -> &[u8] {
        let per_row = self.cols / self.blocks.values() * self.blocks.bytes();
        &self.data[r * per_row..(r + 1) * per_row]
    }

    /// Row `r` as f32 values (embedding lookups).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.cols, "dequantize_row output length");
        scalar::dequantize(self.blocks, self.row_bytes(r), out);
    }

    /// Rows `rows` as f32 values into `out` (row-major), over the worker pool.
    pub fn dequantize_rows(&self, rows: std::ops::Range<usize>, out: &mut [f32]) {
        assert_eq!(out.len(), rows.len() * self.cols, "dequantize_rows output length");
        let (first, cols) = (rows.start, self.cols);
        let out = SharedOut(out.as_mut_ptr());
        candle_core::utils::barrier_pool().execute_chunked(rows.len(), |range| {
            for i in range {
                // SAFETY: each row index goes to exactly one caller, so the slices are disjoint,
                // and `out` outlives the call, which returns when every chunk is done.
                let row = unsafe { std::slice::from_raw_parts_mut(out.at(i * cols), cols) };
                self.dequantize_row(first + i, row);
            }
        });
    }

    /// Y = X·Wᵀ for `x` of (t, cols) into `y` (t, rows) in f32: the weights are dequantized
    /// DENSE_TILE rows at a time into a scratch kept between calls, and each tile is one f32
    /// matrix product. For long batches this is faster than the integer kernels (the
    /// dequantization is shared by every row), but a row's numbers depend on the batch.
    pub fn matmul_dense(&self, x: &[f32], y: &mut [f32]) {
        let t = x.len() / self.cols;
        assert_eq!(x.len(), t * self.cols, "matmul input length");
        assert_eq!(y.len(), t * self.rows, "matmul output length");
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with_borrow_mut(|buf| {
            for start in (0..self.rows).step_by(DENSE_TILE) {
                let n = DENSE_TILE.min(self.rows - start);
                buf.resize(n * self.cols, 0f32);
                self.dequantize_rows(start..start + n, &mut buf[..n * self.cols]);
                let k = self.cols as isize;
                // SAFETY: dst is y's columns start..start+n with row stride rows; lhs x (t, k)
                // row-major; rhs the tile transposed (element (kk, j) at buf[j·k + kk]); every
                // extent is inside its slice.
                unsafe {
                    gemm::gemm(
                        t,
                        n,
                        self.cols,
                        y.as_mut_ptr().add(start),
                        1,
                        self.rows as isize,
                        false,
                        x.as_ptr(),
                        1,
                        k,
                        buf.as_ptr(),
                        k,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::Rayon(pool_threads()),
                    );
                }
            }
        });
    }

    /// y = W·x for one token, over the worker pool.
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), self.cols, "matvec input length");
        let acts = Acts::quantize(x, self.cols);
        let mut outs = [y];
        matmul_many(&[self], &acts, &mut outs, best_kernel());
    }

    /// Y = X·Wᵀ for `x` of (t, cols) row-major into `y` (t, rows), over the worker pool.
    pub fn matmul(&self, x: &[f32], y: &mut [f32]) {
        let acts = Acts::quantize(x, self.cols);
        let mut outs = [y];
        matmul_many(&[self], &acts, &mut outs, best_kernel());
    }

    /// y = W·x on the calling thread with the given kernel set (tests compare them); a set the
    /// CPU lacks falls back to the best one it has.
    pub fn matvec_serial(&self, x: &[f32], y: &mut [f32], kernel: Kernel) {
        let kernel = kernel.min(best_kernel());
        let acts = Acts::quantize(x, self.cols);
        for (r, v) in y.iter_mut().enumerate() {
            *v = self.dot::<1>(r, &[acts.row(0)], kernel)[0];
        }
    }

    /// Row `r` dotted with N activation rows.
    fn dot<const N: usize>(&self, r: usize, xs: &[ActRow; N], kernel: Kernel) -> [f32; N] {
        let row = self.row_bytes(r);
        // SAFETY: `kernel` is at most best_kernel(), which checked the CPU features each set is
        // compiled for; the row holds cols/values blocks and every activation row cols values.
        #[cfg(target_arch = "x86_64")]
        match kernel {
            Kernel::Vnni => return unsafe { simd::vnni::dot::<N>(self.blocks, row, xs) },
            Kernel::Avx2 => return unsafe { simd::avx2::dot::<N>(self.blocks, row, xs) },
            Kernel::Scalar => {}
        }
        std::array::from_fn(|i| scalar::dot(self.blocks, row, &xs[i]))
    }
}

/// Outputs of several matrices that read the same activations, computed in one pool job:
/// `outs[j]` is (tokens, ms[j].rows()) row-major.
pub fn matmul_many(ms: &[&QuantMatrix], acts: &Acts, outs: &mut [&mut [f32]], kernel: Kernel) {
    assert_eq!(ms.len(), outs.len(), "one output per matrix");
    for (m, y) in ms.iter().zip(outs.iter()) {
        assert_eq!(m.cols, acts.cols, "matmul input width");
        assert_eq!(y.len(), m.rows * acts.rows, "matmul output length");
    }
    let ptrs: Vec<SharedOut> = outs.iter_mut().map(|y| SharedOut(y.as_mut_ptr())).collect();
    // Row units across all matrices: the first ms[0].rows() belong to ms[0], and so on.
    let starts: Vec<usize> = ms.iter().scan(0, |s, m| Some(std::mem::replace(s, *s + m.rows))).collect();
    let total: usize = ms.iter().map(|m| m.rows).sum();
    let pool = candle_core::utils::barrier_pool();
    // About eight grabs per thread (a small tail), in multiples of 4 rows.
    let threads = pool_threads();
    let chunk = total.div_ceil(threads * 8).max(4);
    let cursor = AtomicUsize::new(0);
    let work = |_| loop {
        let start = cursor.fetch_add(chunk, Ordering::Relaxed);
        if start >= total {
            break;
        }
        let end = total.min(start + chunk);
        // Split [start, end) at matrix boundaries.
        let mut s = start;
        while s < end {
            let j = starts.partition_point(|&b| b <= s) - 1;
            let e = end.min(starts[j] + ms[j].rows);
            rows_job(ms[j], acts, &ptrs[j], s - starts[j]..e - starts[j], kernel);
            s = e;
        }
    };
    pool.execute(work);
}

/// Threads of candle's pool, the caller included. Asked once: candle reads the CPU topology from
/// /proc each time (a measurable share of a small model's decode step).
fn pool_threads() -> usize {
    use std::sync::OnceLock;
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| candle_core::utils::get_num_threads().max(1))
}

/// Rows `range` of `m` for every token, tokens in groups sharing each row load.
fn rows_job(m: &QuantMatrix, acts: &Acts, out: &SharedOut, range: std::ops::Range<usize>, kernel: Kernel) {
    let t = acts.rows;
    let mut tok = 0;
    while tok < t {
        if t - tok >= GROUP {
            let xs: [ActRow; GROUP] = std::array::from_fn(|i| acts.row(tok + i));
            for r in range.clone() {
                let v = m.dot::<GROUP>(r, &xs, kernel);
                for (i, v) in v.into_iter().enumerate() {
                    // SAFETY: each (token, row) is written by exactly one job, and the
                    // outputs outlive the pool call, which returns when every job is done.
                    unsafe { *out.at((tok + i) * m.rows + r) = v };
                }
            }
            tok += GROUP;
        } else {
            let xs = [acts.row(tok)];
            for r in range.clone() {
                // SAFETY: as above.
                unsafe { *out.at(tok * m.rows + r) = m.dot::<1>(r, &xs, kernel)[0] };
            }
            tok += 1;
        }
    }
}

struct SharedOut(*mut f32);
// SAFETY: writers touch disjoint indices (see rows_job).
unsafe impl Sync for SharedOut {}
impl SharedOut {
    /// A method (not field access) so closures capture the whole Sync wrapper.
    fn at(&self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

/// The kernel sets, in the order of what they need from the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernel {
    Scalar,
    /// AVX2, FMA and F16C.
    Avx2,
    /// The AVX2 kernels with AVX-512 VNNI's 256-bit integer dot (AVX512VNNI and AVX512VL).
    Vnni,
}

/// The best kernel set this CPU runs, found once.
pub fn best_kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            let avx2 =
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
            let vnni = is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl");
            match (avx2, vnni) {
                (true, true) => Kernel::Vnni,
                (true, false) => Kernel::Avx2,
                _ => Kernel::Scalar,
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Kernel::Scalar
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// The 6-bit scale and min of sub-block j (0..8) of a Q4_K block's 12 scale bytes.
fn q4k_scale_min(j: usize, s: &[u8]) -> (f32, f32) {
    let (sc, m) = if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    };
    (sc as f32, m as f32)
}

#[cfg(test)]
mod tests;
