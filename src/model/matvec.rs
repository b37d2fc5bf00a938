//! Our single-token CPU kernel: y = W·x for GGUF Q4_1 and Q8_0 weight rows, the decode hot path.
//!
//! candle 0.11 has only a scalar Q4_1 dot product, so decode used to run on Q8_0 copies (8.5 bits
//! per weight read per token instead of 5). Decode of a small model is bound by how many weight
//! bytes are read, so this kernel reads the GGUF blocks as they are: x is quantized once per call
//! to 8-bit blocks of 32 (scale and sum per block), and each row is an integer dot product per
//! block (AVX2 where the CPU has it, a scalar loop otherwise) scaled in f32. Rows are shared out
//! over candle's persistent worker pool, so no threads are woken beyond the ones candle keeps.

use candle_core::quantized::{GgmlDType, QTensor};

const BLOCK: usize = 32;

/// The GGUF block layouts this kernel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocks {
    /// f16 scale d, f16 min m, 16 bytes of nibbles (element j low nibble, j+16 high): d·q + m.
    Q4_1,
    /// f16 scale d, 32 signed bytes: d·q.
    Q8_0,
}

impl Blocks {
    fn bytes(self) -> usize {
        match self {
            Blocks::Q4_1 => 20,
            Blocks::Q8_0 => 34,
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

/// x quantized to 8-bit blocks: q = round(x / d); `sums[b]` = d·Σq (for the Q4_1 min term).
struct QuantVec {
    scales: Vec<f32>,
    sums: Vec<f32>,
    q: Vec<i8>,
}

impl QuantMatrix {
    /// Takes a 2-D GGUF tensor (out, in) whose layout this kernel reads; None for other types.
    pub fn from_qtensor(t: &QTensor) -> candle_core::Result<Option<QuantMatrix>> {
        let blocks = match t.dtype() {
            GgmlDType::Q4_1 => Blocks::Q4_1,
            GgmlDType::Q8_0 => Blocks::Q8_0,
            _ => return Ok(None),
        };
        let (rows, cols) = t.shape().dims2()?;
        if cols % BLOCK != 0 {
            return Ok(None);
        }
        let data = t.data()?.into_owned();
        if data.len() != rows * cols / BLOCK * blocks.bytes() {
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

    /// y = W·x over the worker pool.
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), self.cols, "matvec input length");
        assert_eq!(y.len(), self.rows, "matvec output length");
        let xq = quantize(x);
        let out = SharedOut(y.as_mut_ptr());
        let simd = has_avx2();
        candle_core::utils::barrier_pool().execute_chunked(self.rows, |range| {
            for r in range {
                let v = self.row_dot(r, &xq, simd);
                // SAFETY: execute_chunked hands each row index to exactly one caller, and y
                // outlives the call, which returns only after every chunk is done.
                unsafe { *out.at(r) = v };
            }
        });
    }

    /// y = W·x on the calling thread, choosing the kernel explicitly (tests compare them).
    pub fn matvec_serial(&self, x: &[f32], y: &mut [f32], simd: bool) {
        let xq = quantize(x);
        for (r, v) in y.iter_mut().enumerate() {
            *v = self.row_dot(r, &xq, simd && has_avx2());
        }
    }

    fn row_dot(&self, r: usize, xq: &QuantVec, simd: bool) -> f32 {
        let per_row = self.cols / BLOCK * self.blocks.bytes();
        let row = &self.data[r * per_row..(r + 1) * per_row];
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: has_avx2() checked the CPU features the kernels are compiled for, and
            // the row holds exactly cols/32 blocks, as many as xq.
            return unsafe {
                match self.blocks {
                    Blocks::Q4_1 => avx2::dot_q4_1(row, xq),
                    Blocks::Q8_0 => avx2::dot_q8_0(row, xq),
                }
            };
        }
        let _ = simd;
        match self.blocks {
            Blocks::Q4_1 => scalar_dot_q4_1(row, xq),
            Blocks::Q8_0 => scalar_dot_q8_0(row, xq),
        }
    }
}

struct SharedOut(*mut f32);
// SAFETY: writers touch disjoint indices (see matvec).
unsafe impl Sync for SharedOut {}
impl SharedOut {
    /// A method (not field access) so closures capture the whole Sync wrapper.
    fn at(&self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static OK: OnceLock<bool> = OnceLock::new();
        *OK.get_or_init(|| {
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn quantize(x: &[f32]) -> QuantVec {
    let n = x.len() / BLOCK;
    let mut v = QuantVec { scales: Vec::with_capacity(n), sums: Vec::with_capacity(n), q: Vec::with_capacity(x.len()) };
    for block in x.chunks_exact(BLOCK) {
        let amax = block.iter().fold(0f32, |m, a| m.max(a.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        // The scale is kept at f16 precision, as candle's Q8 activation blocks keep it, so a
        // single-token row gives the same numbers as candle's batched quantized matmul.
        let d = half::f16::from_f32(d).to_f32();
        let mut sum = 0i32;
        for a in block {
            let q = (a * inv).round() as i8;
            sum += q as i32;
            v.q.push(q);
        }
        v.scales.push(d);
        v.sums.push(d * sum as f32);
    }
    v
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

fn scalar_dot_q4_1(row: &[u8], xq: &QuantVec) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(20).enumerate() {
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        let xs = &xq.q[b * BLOCK..(b + 1) * BLOCK];
        let mut sum = 0i32;
        for (j, &byte) in blk[4..].iter().enumerate() {
            sum += (byte & 0x0f) as i32 * xs[j] as i32 + (byte >> 4) as i32 * xs[j + 16] as i32;
        }
        acc += d * xq.scales[b] * sum as f32 + m * xq.sums[b];
    }
    acc
}

fn scalar_dot_q8_0(row: &[u8], xq: &QuantVec) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(34).enumerate() {
        let d = f16_at(blk, 0);
        let xs = &xq.q[b * BLOCK..(b + 1) * BLOCK];
        let sum: i32 = blk[2..].iter().zip(xs).map(|(&w, &x)| w as i8 as i32 * x as i32).sum();
        acc += d * xq.scales[b] * sum as f32;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{QuantVec, BLOCK};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// Two f16 values at p (unaligned) as f32.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn two_f16(p: *const u8) -> (f32, f32) {
        let bits = (p as *const i32).read_unaligned();
        let f = _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
        (_mm_cvtss_f32(f), _mm_cvtss_f32(_mm_movehdup_ps(f)))
    }

    /// One Q4_1 block's integer dot with x, scaled (vector part) and its min term (scalar).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn block_q4_1(p: *const u8, x: *const i8, scale: f32, sum: f32, acc: __m256) -> (__m256, f32) {
        let low = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        let (d, m) = two_f16(p);
        let packed = _mm_loadu_si128(p.add(4) as *const __m128i);
        let w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low);
        let xv = _mm256_loadu_si256(x as *const __m256i);
        // u8 nibbles × i8: pair sums fit i16 (2·15·127), then pairs of i16 into i32.
        let dot = _mm256_madd_epi16(_mm256_maddubs_epi16(w, xv), ones);
        (_mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(d * scale), acc), m * sum)
    }

    /// Two blocks per step into two accumulators: one chain of dependent FMAs per row left the
    /// core waiting on FMA latency rather than on memory.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q4_1(row: &[u8], xq: &QuantVec) -> f32 {
        let n = row.len() / 20;
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (mut mins0, mut mins1) = (0f32, 0f32);
        let (rp, qp) = (row.as_ptr(), xq.q.as_ptr());
        let (scales, sums) = (xq.scales.as_ptr(), xq.sums.as_ptr());
        let mut b = 0;
        while b + 1 < n {
            let (a, m) = block_q4_1(rp.add(b * 20), qp.add(b * BLOCK), *scales.add(b), *sums.add(b), acc0);
            acc0 = a;
            mins0 += m;
            let (a, m) =
                block_q4_1(rp.add((b + 1) * 20), qp.add((b + 1) * BLOCK), *scales.add(b + 1), *sums.add(b + 1), acc1);
            acc1 = a;
            mins1 += m;
            b += 2;
        }
        if b < n {
            let (a, m) = block_q4_1(rp.add(b * 20), qp.add(b * BLOCK), *scales.add(b), *sums.add(b), acc0);
            acc0 = a;
            mins0 += m;
        }
        hsum(_mm256_add_ps(acc0, acc1)) + (mins0 + mins1)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn block_q8_0(p: *const u8, x: *const i8, scale: f32, acc: __m256) -> __m256 {
        let ones = _mm256_set1_epi16(1);
        let (d, _) = two_f16(p);
        let w = _mm256_loadu_si256(p.add(2) as *const __m256i);
        let xv = _mm256_loadu_si256(x as *const __m256i);
        // maddubs wants one unsigned side: |w| and x carrying w's sign.
        let dot = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w)), ones);
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(d * scale), acc)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q8_0(row: &[u8], xq: &QuantVec) -> f32 {
        let n = row.len() / 34;
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (rp, qp, scales) = (row.as_ptr(), xq.q.as_ptr(), xq.scales.as_ptr());
        let mut b = 0;
        while b + 1 < n {
            acc0 = block_q8_0(rp.add(b * 34), qp.add(b * BLOCK), *scales.add(b), acc0);
            acc1 = block_q8_0(rp.add((b + 1) * 34), qp.add((b + 1) * BLOCK), *scales.add(b + 1), acc1);
            b += 2;
        }
        if b < n {
            acc0 = block_q8_0(rp.add(b * 34), qp.add(b * BLOCK), *scales.add(b), acc0);
        }
        hsum(_mm256_add_ps(acc0, acc1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn check(dtype: GgmlDType) {
        // 8 blocks per row, and 9 (the unrolled kernels' odd tail).
        check_shape(dtype, 37, 256);
        check_shape(dtype, 5, 288);
    }

    fn check_shape(dtype: GgmlDType, rows: usize, cols: usize) {
        let w = Tensor::from_vec(random(rows * cols, 1), (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, dtype).unwrap();
        let m = QuantMatrix::from_qtensor(&q).unwrap().expect("supported type");
        let deq: Vec<f32> = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let x = random(cols, 2);
        let reference: Vec<f32> = (0..rows).map(|r| (0..cols).map(|c| deq[r * cols + c] * x[c]).sum()).collect();
        let (mut scalar, mut simd, mut pooled) = (vec![0f32; rows], vec![0f32; rows], vec![0f32; rows]);
        m.matvec_serial(&x, &mut scalar, false);
        m.matvec_serial(&x, &mut simd, true);
        m.matvec(&x, &mut pooled);
        for r in 0..rows {
            // x is rounded to 8 bits per block: error ≤ Σ|w|·d_x/2 ≈ 256·0.5·(1/254) ≈ 0.5; in
            // practice the errors cancel and stay far below that (≤ 0.06 on these rows).
            assert!((scalar[r] - reference[r]).abs() < 0.1, "{dtype:?} row {r}: {} vs {}", scalar[r], reference[r]);
            assert!((simd[r] - scalar[r]).abs() < 1e-4, "{dtype:?} row {r}: simd {} scalar {}", simd[r], scalar[r]);
            assert_eq!(pooled[r], simd[r]);
        }
    }

    #[test]
    fn q4_1_matches_dequantized_reference() {
        check(GgmlDType::Q4_1);
    }

    #[test]
    fn q8_0_matches_dequantized_reference() {
        check(GgmlDType::Q8_0);
    }

    #[test]
    fn other_types_are_declined() {
        let w = Tensor::zeros((4, 64), candle_core::DType::F32, &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::F32).unwrap();
        assert!(QuantMatrix::from_qtensor(&q).unwrap().is_none());
    }
}
