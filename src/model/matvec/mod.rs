//! Our CPU kernels for GGUF weight blocks: y = W·x for one token (decode) and for many tokens
//! (prefill, scoring), read straight from the file's blocks, so no dense f32 copy is kept.
//!
//! Activations are quantized once per call to 8-bit blocks of 32 (scale and sum per block),
//! and every weight row is an integer dot product per block scaled in f32, the scheme llama.cpp
//! uses. Types: Q4_1, Q5_0, Q8_0 (blocks of 32) and Q4_K, Q6_K (super-blocks of 256, whose
//! sub-blocks line up with the activation blocks). AVX2 where the CPU has it, chosen at run
//! time; a scalar loop otherwise.
//!
//! Matrices whose rows come in whole tiles of 8 (all of the models we know) are repacked at load
//! into tiles (`tiled`): one integer dot instruction serves 8 rows, and one tile load serves up
//! to 8 tokens. Other matrices keep the file's row layout, where a row is unpacked once per block
//! and dotted with up to four tokens. Each token's sums run in the same order whatever the
//! batch, so a token's output does not depend on how a sequence was split into calls; prefill,
//! decode and scoring all take this route.
//!
//! Rows are shared out over candle's persistent worker pool; several matrices that read the same
//! input (q, k and v; gate and up) go out as one job, one wake-up instead of three.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod simd;
#[cfg(target_arch = "x86_64")]
mod simd512;
mod tiled;

use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::quantized::{GgmlDType, QTensor};

/// Elements per activation block (and per small weight block).
pub const BLOCK: usize = 32;
/// Tokens dotted with one weight row load.
const GROUP: usize = 4;
/// Tokens dotted with one tile load (the tile kernels keep 8 rows of each in one register).
const TILE_GROUP: usize = 8;
/// The most weight bytes one grab of a many-token product holds: well inside a core's L2
/// (512 KiB to 2 MiB on the CPUs we meet), beside the activations streaming through.
const GRAB_BYTES: usize = 128 << 10;

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

/// A (rows, cols) weight matrix as raw GGUF blocks, row-major, or, where the rows fill whole
/// tiles, the same blocks repacked into tiles of 8 rows (see `tiled`).
pub struct QuantMatrix {
    blocks: Blocks,
    rows: usize,
    cols: usize,
    tiled: bool,
    data: Vec<u8>,
}

/// Activation rows quantized to 8-bit blocks: q = round(x / d) per block of 32, `scales[b]` = d,
/// `sums[b]` = d·Σq (for the terms of weights with an offset or a minimum), `half_sums[h]` = Σq
/// over each 16 values (Q6_K's offset, whose scales change every 16 values).
pub struct Acts {
    rows: usize,
    cols: usize,
    q: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<f32>,
    half_sums: Vec<i32>,
}

/// One quantized activation row.
#[derive(Clone, Copy)]
pub(crate) struct ActRow<'a> {
    pub q: &'a [i8],
    pub scales: &'a [f32],
    pub sums: &'a [f32],
    pub half_sums: &'a [i32],
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
            half_sums: Vec::with_capacity(2 * n),
        };
        for block in x.chunks_exact(BLOCK) {
            let amax = block.iter().fold(0f32, |m, a| m.max(a.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            // The scale is kept at f16 precision, as candle's and llama.cpp's 8-bit activation
            // blocks keep it.
            let d = half::f16::from_f32(d).to_f32();
            let mut half = [0i32; 2];
            for (j, v) in block.iter().enumerate() {
                let q = round_small(v * inv) as i8;
                half[j / 16] += q as i32;
                a.q.push(q);
            }
            a.scales.push(d);
            a.sums.push(d * (half[0] + half[1]) as f32);
            a.half_sums.extend(half);
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
            half_sums: &self.half_sums[2 * i * nb..2 * (i + 1) * nb],
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
        let data = t.data()?;
        if data.len() != rows * cols / blocks.values() * blocks.bytes() {
            return Ok(None);
        }
        Ok(Some(QuantMatrix::from_blocks(blocks, rows, cols, &data, true)))
    }

    /// From row-major GGUF blocks; `tile` repacks them into tiles where the rows allow.
    pub fn from_blocks(blocks: Blocks, rows: usize, cols: usize, data: &[u8], tile: bool) -> QuantMatrix {
        assert_eq!(data.len(), rows * cols / blocks.values() * blocks.bytes(), "block data length");
        let tiled = tile && rows.is_multiple_of(tiled::ROWS);
        let data = if tiled { tiled::pack(blocks, data, rows, cols) } else { data.to_vec() };
        QuantMatrix { blocks, rows, cols, tiled, data }
    }

    /// Whether the rows are repacked into tiles.
    pub fn is_tiled(&self) -> bool {
        self.tiled
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
        debug_assert!(!self.tiled);
        let per_row = self.cols / self.blocks.values() * self.blocks.bytes();
        &self.data[r * per_row..(r + 1) * per_row]
    }

    /// The super-blocks of tile `t` (rows 8t..8t+8).
    fn tile_bytes(&self, t: usize) -> &[u8] {
        debug_assert!(self.tiled);
        let per_tile = self.cols / self.blocks.values() * tiled::tile_bytes(self.blocks);
        &self.data[t * per_tile..(t + 1) * per_tile]
    }

    /// Row `r` as f32 values (embedding lookups).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.cols, "dequantize_row output length");
        if self.tiled {
            tiled::dequantize(self.blocks, self.tile_bytes(r / tiled::ROWS), r % tiled::ROWS, out);
        } else {
            scalar::dequantize(self.blocks, self.row_bytes(r), out);
        }
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
        if self.tiled {
            let mut store = |_: usize, row: usize, v: &[f32]| y[row..row + v.len()].copy_from_slice(v);
            self.tiles_for::<1>(0..self.rows / tiled::ROWS, &[acts.row(0)], kernel, &mut store);
            return;
        }
        for (r, v) in y.iter_mut().enumerate() {
            *v = self.dot::<1>(r, &[acts.row(0)], kernel)[0];
        }
    }

    /// Tiles `tiles` dotted with N activation rows: two tiles per call on the 512-bit kernels,
    /// one otherwise; `store(token, first row, values)` takes each result.
    fn tiles_for<const N: usize>(
        &self,
        tiles: std::ops::Range<usize>,
        xs: &[ActRow; N],
        kernel: Kernel,
        store: &mut impl FnMut(usize, usize, &[f32]),
    ) {
        let mut t = tiles.start;
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Vnni {
            while t + 2 <= tiles.end {
                let (a, b) = (self.tile_bytes(t), self.tile_bytes(t + 1));
                // SAFETY: Vnni is only chosen (best_kernel) where the CPU has what simd512 needs;
                // both tile rows hold cols/values whole tile blocks.
                let v = unsafe { simd512::dot_tile_pair::<N>(self.blocks, a, b, xs) };
                for (i, v) in v.iter().enumerate() {
                    store(i, t * tiled::ROWS, v);
                }
                t += 2;
            }
        }
        while t < tiles.end {
            for (i, v) in self.dot_tile::<N>(t, xs, kernel).iter().enumerate() {
                store(i, t * tiled::ROWS, v);
            }
            t += 1;
        }
    }

    /// The 8 rows of tile `t` dotted with N activation rows.
    fn dot_tile<const N: usize>(&self, t: usize, xs: &[ActRow; N], kernel: Kernel) -> [[f32; tiled::ROWS]; N] {
        let tiles = self.tile_bytes(t);
        // SAFETY: as in `dot`; the tile row holds cols/256 whole tile super-blocks.
        #[cfg(target_arch = "x86_64")]
        match kernel {
            Kernel::Vnni => return unsafe { simd::vnni::dot_tile::<N>(self.blocks, tiles, xs) },
            Kernel::Avx2 => return unsafe { simd::avx2::dot_tile::<N>(self.blocks, tiles, xs) },
            Kernel::Scalar => {}
        }
        std::array::from_fn(|i| tiled::dot(self.blocks, tiles, &xs[i]))
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
    // Row units across all matrices: the first ms[0].rows() belong to ms[0], and so on, each
    // matrix starting at a multiple of the tile height so every grab holds whole tiles.
    let span = |m: &&QuantMatrix| m.rows.next_multiple_of(tiled::ROWS);
    let starts: Vec<usize> = ms.iter().scan(0, |s, m| Some(std::mem::replace(s, *s + span(m)))).collect();
    let total: usize = ms.iter().map(span).sum();
    let pool = candle_core::utils::barrier_pool();
    // About eight grabs per thread (a small tail), in whole pairs of tiles. With many tokens a
    // grab's weights are read once per group of tokens: a grab that fits in L2 is read from
    // there, not again from L3 or memory.
    let threads = pool_threads();
    let mut chunk = total.div_ceil(threads * 8).next_multiple_of(2 * tiled::ROWS);
    if acts.rows > TILE_GROUP {
        let row_bytes = ms.iter().map(|m| m.size_bytes() / m.rows.max(1)).max().unwrap_or(1).max(1);
        chunk = chunk.min((GRAB_BYTES / row_bytes).max(1).next_multiple_of(2 * tiled::ROWS));
    }
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
            let e = end.min(starts[j] + span(&ms[j]));
            let rows = s - starts[j]..(e - starts[j]).min(ms[j].rows);
            if !rows.is_empty() {
                rows_job(ms[j], acts, &ptrs[j], rows, kernel);
            }
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
    if m.tiled {
        return tiles_job(m, acts, out, range, kernel);
    }
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

/// `rows_job` for a tiled matrix: `range` starts and ends on tile boundaries.
fn tiles_job(m: &QuantMatrix, acts: &Acts, out: &SharedOut, range: std::ops::Range<usize>, kernel: Kernel) {
    let tiles = range.start / tiled::ROWS..range.end.div_ceil(tiled::ROWS);
    let mut tok = 0;
    while tok < acts.rows {
        let first = tok;
        let mut store = |i: usize, row: usize, v: &[f32]| {
            // SAFETY: as in rows_job; these rows of this token belong to this job alone.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out.at((first + i) * m.rows + row), v.len()) };
        };
        if acts.rows - tok >= TILE_GROUP {
            let xs: [ActRow; TILE_GROUP] = std::array::from_fn(|i| acts.row(tok + i));
            m.tiles_for::<TILE_GROUP>(tiles.clone(), &xs, kernel, &mut store);
            tok += TILE_GROUP;
        } else if acts.rows - tok >= GROUP {
            let xs: [ActRow; GROUP] = std::array::from_fn(|i| acts.row(tok + i));
            m.tiles_for::<GROUP>(tiles.clone(), &xs, kernel, &mut store);
            tok += GROUP;
        } else if acts.rows - tok == 3 {
            // Two or three sequences decoding together read each tile once, not once each.
            let xs: [ActRow; 3] = std::array::from_fn(|i| acts.row(tok + i));
            m.tiles_for::<3>(tiles.clone(), &xs, kernel, &mut store);
            tok += 3;
        } else if acts.rows - tok == 2 {
            m.tiles_for::<2>(tiles.clone(), &[acts.row(tok), acts.row(tok + 1)], kernel, &mut store);
            tok += 2;
        } else {
            m.tiles_for::<1>(tiles.clone(), &[acts.row(tok)], kernel, &mut store);
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
    /// The AVX2 kernels with AVX-512 VNNI's 256-bit integer dot, and the tile kernels on 512-bit
    /// registers (AVX512F, BW, VL and VNNI).
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
            let vnni = is_x86_feature_detected!("avx512vnni")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw");
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

/// x rounded to the nearest integer, ties to even, for |x| < 2²² (activations are within ±127):
/// adding and taking back 1.5·2²³ leaves no fraction bits. Plain adds, which vectorise; `round`
/// is a library call per value.
fn round_small(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
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
