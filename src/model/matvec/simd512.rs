//! The tile kernels on 512-bit registers, for CPUs with AVX-512 VNNI: two neighbouring tiles (16
//! rows) side by side in one register, so each broadcast of 4 activation bytes and each integer
//! dot serves 16 rows instead of 8. The tiles keep their 8-row layout (a register's halves load
//! from the two tiles), and every lane does what the 8-row kernels do: the same bits.

use std::arch::x86_64::*;

use super::simd::prefetch_ahead;
use super::tiled::{self, ROWS};
use super::{ActRow, Blocks, BLOCK};

/// Rows of a tile pair.
pub const PAIR: usize = 2 * ROWS;

/// # Safety
/// The CPU has AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C; `a` and `b` hold the same whole
/// number of tile blocks of `blocks`, and each `xs` row the matching values.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn dot_tile_pair<const N: usize>(
    blocks: Blocks,
    a: &[u8],
    b: &[u8],
    xs: &[ActRow; N],
) -> [[f32; PAIR]; N] {
    let acc = match blocks {
        Blocks::Q4K => q4k::<N>(a, b, xs),
        Blocks::Q6K => q6k::<N>(a, b, xs),
        small => small_types::<N>(small, a, b, xs),
    };
    std::array::from_fn(|i| {
        let mut out = [0f32; PAIR];
        _mm512_storeu_ps(out.as_mut_ptr(), _mm512_add_ps(acc[i][0], acc[i][1]));
        out
    })
}

/// 32 bytes at `a` in the low half, 32 at `b` in the high half.
#[target_feature(enable = "avx2,avx512f")]
#[inline]
unsafe fn pair(a: *const u8, b: *const u8) -> __m512i {
    let lo = _mm256_loadu_si256(a as *const __m256i);
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), _mm256_loadu_si256(b as *const __m256i))
}

/// 8 f32 at `a`, then 8 at `b`.
#[target_feature(enable = "avx2,avx512f")]
#[inline]
unsafe fn pair_ps(a: *const u8, b: *const u8) -> __m512 {
    _mm512_castsi512_ps(pair(a, b))
}

/// 8 f16 at `a`, then 8 at `b`, as 16 f32.
#[target_feature(enable = "avx2,f16c,avx512f")]
#[inline]
unsafe fn pair_halves(a: *const u8, b: *const u8) -> __m512 {
    let (lo, hi) = (_mm_loadu_si128(a as *const __m128i), _mm_loadu_si128(b as *const __m128i));
    _mm512_cvtph_ps(_mm256_set_m128i(hi, lo))
}

/// 8 bytes at `a`, then 8 at `b`, as 16 f32 (unsigned or signed bytes).
#[target_feature(enable = "avx2,avx512f")]
#[inline]
unsafe fn pair_bytes(a: *const u8, b: *const u8, signed: bool) -> __m512 {
    let v = _mm_unpacklo_epi64(_mm_loadl_epi64(a as *const __m128i), _mm_loadl_epi64(b as *const __m128i));
    _mm512_cvtepi32_ps(if signed { _mm512_cvtepi8_epi32(v) } else { _mm512_cvtepu8_epi32(v) })
}

/// Σ over 4-value groups of q·x for 16 rows: `w[g]` holds group g of each row (unsigned bytes).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn isum<const G: usize>(w: &[__m512i; G], x: *const i8) -> __m512i {
    let mut s = [_mm512_setzero_si512(); 2];
    for g in 0..G {
        let xv = _mm512_set1_epi32((x.add(4 * g) as *const i32).read_unaligned());
        s[g % 2] = _mm512_dpbusd_epi32(s[g % 2], w[g], xv);
    }
    _mm512_add_epi32(s[0], s[1])
}

/// The 8 groups of one sub-block's low nibbles, from 4 nibble-pair vectors of each tile.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
#[inline]
unsafe fn nibbles(a: *const u8, b: *const u8) -> [__m512i; 8] {
    let low = _mm512_set1_epi8(0x0f);
    let mut w = [_mm512_setzero_si512(); 8];
    for p in 0..4 {
        let v = pair(a.add(32 * p), b.add(32 * p));
        w[2 * p] = _mm512_and_si512(v, low);
        w[2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), low);
    }
    w
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn small_types<const N: usize>(blocks: Blocks, a: &[u8], b: &[u8], xs: &[ActRow; N]) -> [[__m512; 2]; N] {
    let mut acc = [[_mm512_setzero_ps(); 2]; N];
    let tb = tiled::tile_bytes(blocks);
    let one = _mm512_set1_epi8(1);
    for (blk, (ta, tb_)) in a.chunks_exact(tb).zip(b.chunks_exact(tb)).enumerate() {
        let (pa, pb) = (ta.as_ptr(), tb_.as_ptr());
        prefetch_ahead(pa, tb);
        prefetch_ahead(pb, tb);
        let d = pair_halves(pa, pb);
        let k = blk % 2;
        match blocks {
            Blocks::Q4_1 => {
                let (m, w) = (pair_halves(pa.add(16), pb.add(16)), nibbles(pa.add(32), pb.add(32)));
                for i in 0..N {
                    let s = isum::<8>(&w, xs[i].q.as_ptr().add(blk * BLOCK));
                    let t = _mm512_mul_ps(_mm512_cvtepi32_ps(s), d);
                    let v = _mm512_fmadd_ps(t, _mm512_set1_ps(*xs[i].scales.get_unchecked(blk)), acc[i][k]);
                    acc[i][k] = _mm512_fmadd_ps(m, _mm512_set1_ps(*xs[i].sums.get_unchecked(blk)), v);
                }
            }
            Blocks::Q5_0 => {
                let mut w = nibbles(pa.add(16), pb.add(16));
                let hv = pair(pa.add(144), pb.add(144));
                for (g, w) in w.iter_mut().enumerate() {
                    let bit = _mm512_and_si512(_mm512_srl_epi16(hv, _mm_cvtsi32_si128(g as i32)), one);
                    *w = _mm512_or_si512(*w, _mm512_slli_epi16::<4>(bit));
                }
                for i in 0..N {
                    let s = isum::<8>(&w, xs[i].q.as_ptr().add(blk * BLOCK));
                    let hs = xs[i].half_sums.get_unchecked(2 * blk..2 * blk + 2);
                    let s = _mm512_sub_epi32(s, _mm512_set1_epi32(16 * (hs[0] + hs[1])));
                    let t = _mm512_mul_ps(_mm512_cvtepi32_ps(s), d);
                    acc[i][k] = _mm512_fmadd_ps(t, _mm512_set1_ps(*xs[i].scales.get_unchecked(blk)), acc[i][k]);
                }
            }
            _ => {
                // Signed weights shifted to unsigned (w + 128), the shift taken back through the
                // block's sum: the exact integer sum, as in simd.rs.
                let flip = _mm512_set1_epi8(-128);
                let w: [__m512i; 8] =
                    std::array::from_fn(|g| _mm512_xor_si512(pair(pa.add(16 + 32 * g), pb.add(16 + 32 * g)), flip));
                for i in 0..N {
                    let hs = xs[i].half_sums.get_unchecked(2 * blk..2 * blk + 2);
                    let s = isum::<8>(&w, xs[i].q.as_ptr().add(blk * BLOCK));
                    let s = _mm512_sub_epi32(s, _mm512_set1_epi32(128 * (hs[0] + hs[1])));
                    let t = _mm512_mul_ps(_mm512_cvtepi32_ps(s), d);
                    acc[i][k] = _mm512_fmadd_ps(t, _mm512_set1_ps(*xs[i].scales.get_unchecked(blk)), acc[i][k]);
                }
            }
        }
    }
    acc
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q4k<const N: usize>(a: &[u8], b: &[u8], xs: &[ActRow; N]) -> [[__m512; 2]; N] {
    let mut acc = [[_mm512_setzero_ps(); 2]; N];
    let tb = tiled::Q4K_BYTES;
    for (sb, (ta, tb_)) in a.chunks_exact(tb).zip(b.chunks_exact(tb)).enumerate() {
        let (pa, pb) = (ta.as_ptr(), tb_.as_ptr());
        prefetch_ahead(pa, tb);
        prefetch_ahead(pb, tb);
        let (d, dmin) = (pair_ps(pa, pb), pair_ps(pa.add(32), pb.add(32)));
        for j in 0..8 {
            let dsc = _mm512_mul_ps(d, pair_bytes(pa.add(64 + 8 * j), pb.add(64 + 8 * j), false));
            let dmn = _mm512_mul_ps(dmin, pair_bytes(pa.add(128 + 8 * j), pb.add(128 + 8 * j), false));
            let w = nibbles(pa.add(192 + 128 * j), pb.add(192 + 128 * j));
            let blk = sb * 8 + j;
            for i in 0..N {
                let s = isum::<8>(&w, xs[i].q.as_ptr().add(blk * BLOCK));
                let t = _mm512_mul_ps(_mm512_cvtepi32_ps(s), dsc);
                let v = _mm512_fmadd_ps(t, _mm512_set1_ps(*xs[i].scales.get_unchecked(blk)), acc[i][j % 2]);
                acc[i][j % 2] = _mm512_fnmadd_ps(dmn, _mm512_set1_ps(*xs[i].sums.get_unchecked(blk)), v);
            }
        }
    }
    acc
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q6k<const N: usize>(a: &[u8], b: &[u8], xs: &[ActRow; N]) -> [[__m512; 2]; N] {
    let mut acc = [[_mm512_setzero_ps(); 2]; N];
    let three = _mm512_set1_epi8(0x03);
    let tb = tiled::Q6K_BYTES;
    for (sb, (ta, tb_)) in a.chunks_exact(tb).zip(b.chunks_exact(tb)).enumerate() {
        let (pa, pb) = (ta.as_ptr(), tb_.as_ptr());
        prefetch_ahead(pa, tb);
        prefetch_ahead(pb, tb);
        let d = pair_ps(pa, pb);
        for j in 0..8 {
            let mut w = nibbles(pa.add(160 + 128 * j), pb.add(160 + 128 * j));
            for h in 0..2 {
                let at = 1184 + 64 * j + 32 * h;
                let hv = pair(pa.add(at), pb.add(at));
                let hs = [hv, _mm512_srli_epi16::<2>(hv), _mm512_srli_epi16::<4>(hv), _mm512_srli_epi16::<6>(hv)];
                for (g, hg) in hs.into_iter().enumerate() {
                    let high = _mm512_slli_epi16::<4>(_mm512_and_si512(hg, three));
                    w[4 * h + g] = _mm512_or_si512(w[4 * h + g], high);
                }
            }
            let halves = [[w[0], w[1], w[2], w[3]], [w[4], w[5], w[6], w[7]]];
            let blk = sb * 8 + j;
            for h in 0..2 {
                let at = 32 + 8 * (2 * j + h);
                let dsc = _mm512_mul_ps(d, pair_bytes(pa.add(at), pb.add(at), true));
                for i in 0..N {
                    let x = xs[i].q.as_ptr().add(blk * BLOCK + 16 * h);
                    let s = isum::<4>(&halves[h], x);
                    let off = _mm512_set1_epi32(32 * *xs[i].half_sums.get_unchecked(2 * blk + h));
                    let t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s, off)), dsc);
                    acc[i][h] = _mm512_fmadd_ps(t, _mm512_set1_ps(*xs[i].scales.get_unchecked(blk)), acc[i][h]);
                }
            }
        }
    }
    acc
}
