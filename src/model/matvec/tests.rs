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

const TYPES: [GgmlDType; 5] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K];

fn matrix(dtype: GgmlDType, rows: usize, cols: usize) -> (QTensor, QuantMatrix) {
    let w = Tensor::from_vec(random(rows * cols, 1), (rows, cols), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&w, dtype).unwrap();
    let m = QuantMatrix::from_qtensor(&q).unwrap().expect("a type the kernels read");
    (q, m)
}

/// Shapes with an even and an odd number of blocks (the kernels take blocks in pairs).
fn shapes(dtype: GgmlDType) -> [(usize, usize); 2] {
    if Blocks::of(dtype).unwrap().values() == 256 {
        [(37, 512), (5, 768)]
    } else {
        [(37, 256), (5, 288)]
    }
}

/// Rows in the file's layout (37) and in tiles (40).
#[test]
fn rows_dequantize_as_candle_does() {
    for dtype in TYPES {
        let cols = shapes(dtype)[0].1;
        for rows in [37, 40] {
            assert_dequantizes_as_candle(dtype, rows, cols);
        }
    }
}

fn assert_dequantizes_as_candle(dtype: GgmlDType, rows: usize, cols: usize) {
    let (q, m) = matrix(dtype, rows, cols);
    assert_eq!(m.is_tiled(), rows.is_multiple_of(8), "{dtype:?} {rows} rows");
    let deq: Vec<f32> = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let mut row = vec![0f32; cols];
    for r in 0..rows {
        m.dequantize_row(r, &mut row);
        for c in 0..cols {
            let want = deq[r * cols + c];
            assert!((row[c] - want).abs() <= 1e-6 * want.abs().max(1.0), "{dtype:?} ({r}, {c}): {} vs {want}", row[c]);
        }
    }
}

/// W·x from candle's dequantized weights in f32, then from the scalar, AVX2 and VNNI kernel sets
/// on the calling thread, then over the pool with the best set.
fn outputs(q: &QTensor, m: &QuantMatrix, x: &[f32]) -> [Vec<f32>; 5] {
    let (rows, cols) = (m.rows(), m.cols());
    let deq: Vec<f32> = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let reference = (0..rows).map(|r| (0..cols).map(|c| deq[r * cols + c] * x[c]).sum()).collect();
    let run = |k: Kernel| {
        let mut y = vec![0f32; rows];
        m.matvec_serial(x, &mut y, k);
        y
    };
    let mut pooled = vec![0f32; rows];
    m.matvec(x, &mut pooled);
    [reference, run(Kernel::Scalar), run(Kernel::Avx2), run(Kernel::Vnni), pooled]
}

#[test]
fn kernels_match_the_dequantized_reference() {
    for dtype in TYPES {
        for (rows, cols) in shapes(dtype) {
            let (q, m) = matrix(dtype, rows, cols);
            let x = random(cols, 2);
            let [reference, scalar, simd, vnni, pooled] = outputs(&q, &m, &x);
            // The VNNI integer dot is exact, so both SIMD sets give the same bits.
            assert_eq!(simd, vnni, "{dtype:?}: avx2 and vnni kernels differ");
            for r in 0..rows {
                // x is rounded to 8 bits per block; the errors mostly cancel (≤ 0.1 on these rows).
                let tol = 0.1 * (cols as f32 / 256.0).sqrt();
                assert!((scalar[r] - reference[r]).abs() < tol, "{dtype:?} row {r}: {} vs {}", scalar[r], reference[r]);
                assert!((simd[r] - scalar[r]).abs() < 1e-4, "{dtype:?} row {r}: simd {} scalar {}", simd[r], scalar[r]);
                assert_eq!(pooled[r], simd[r], "{dtype:?} row {r}");
            }
        }
    }
}

/// A token's outputs are the same whether it comes alone or inside a batch, at any position in
/// the batch (groups of eight, four and the tail), in rows (5) and in tiles (16, one pair): scores
/// do not depend on how a text was split.
#[test]
fn batched_rows_equal_single_rows_exactly() {
    for dtype in TYPES {
        let cols = shapes(dtype)[1].1;
        // 15 tokens go as groups of 8, 4 and 3; 14 as 8, 4 and 2; 9 as 8 and 1.
        for (rows, t) in [(5, 15), (16, 15), (16, 14), (16, 9)] {
            let (_, m) = matrix(dtype, rows, cols);
            let x = random(t * cols, 3);
            let mut batch = vec![0f32; t * rows];
            m.matmul(&x, &mut batch);
            for i in 0..t {
                let mut one = vec![0f32; rows];
                m.matvec(&x[i * cols..(i + 1) * cols], &mut one);
                assert_eq!(&batch[i * rows..(i + 1) * rows], one.as_slice(), "{dtype:?} {rows} rows, token {i}");
            }
        }
    }
}

#[test]
fn matrices_sharing_an_input_run_as_one_job() {
    let (_, a) = matrix(GgmlDType::Q5_0, 40, 256);
    let (_, b) = matrix(GgmlDType::Q8_0, 9, 256);
    let x = random(3 * 256, 4);
    let acts = Acts::quantize(&x, 256);
    let (mut ya, mut yb) = (vec![0f32; 3 * 40], vec![0f32; 3 * 9]);
    matmul_many(&[&a, &b], &acts, &mut [&mut ya, &mut yb], best_kernel());
    let (mut wa, mut wb) = (vec![0f32; 3 * 40], vec![0f32; 3 * 9]);
    a.matmul(&x, &mut wa);
    b.matmul(&x, &mut wb);
    assert_eq!(ya, wa);
    assert_eq!(yb, wb);
}

#[test]
fn other_types_are_declined() {
    let w = Tensor::zeros((4, 64), candle_core::DType::F32, &Device::Cpu).unwrap();
    let q = QTensor::quantize(&w, GgmlDType::F32).unwrap();
    assert!(QuantMatrix::from_qtensor(&q).unwrap().is_none());
}

/// Matrices whose rows fill whole tiles take the tiled layout: the tiled kernels (8 rows, and
/// pairs of tiles on 512-bit registers) give the scalar definition's bits, and the numbers of
/// the row layout up to f32 rounding.
#[test]
fn tiled_matrices_match_candle_and_the_scalar_definition() {
    for dtype in TYPES {
        // Shapes with an even and an odd number of blocks, in whole tiles.
        let [(_, c0), (_, c1)] = shapes(dtype);
        for (rows, cols) in [(40, c0), (16, c1)] {
            let (q, m) = matrix(dtype, rows, cols);
            assert!(m.is_tiled(), "{dtype:?} {rows}×{cols} should be tiled");
            let x = random(cols, 2);
            let [reference, scalar, simd, vnni, pooled] = outputs(&q, &m, &x);
            assert_eq!(scalar, simd, "{dtype:?}: tiled avx2 differs from the scalar definition");
            assert_eq!(simd, vnni, "{dtype:?}: tiled vnni differs from avx2");
            assert_eq!(pooled, simd, "{dtype:?}: pooled");
            let tol = 0.1 * (cols as f32 / 256.0).sqrt();
            for r in 0..rows {
                assert!((scalar[r] - reference[r]).abs() < tol, "{dtype:?} row {r}: {} vs {}", scalar[r], reference[r]);
            }

            // Row layout and tiles quantize the activations alike: same sums up to f32 rounding.
            let plain = QuantMatrix::from_blocks(m.blocks(), rows, cols, &q.data().unwrap(), false);
            assert!(!plain.is_tiled());
            let mut by_row = vec![0f32; rows];
            plain.matvec(&x, &mut by_row);
            for r in 0..rows {
                assert!((by_row[r] - simd[r]).abs() < 1e-4, "{dtype:?} row {r}: rows {} tiles {}", by_row[r], simd[r]);
            }
        }
    }
}

/// A tiled matrix after one whose rows do not fill a tile, in one job: each keeps whole tiles.
#[test]
fn tiled_and_row_matrices_share_a_job() {
    let (_, a) = matrix(GgmlDType::Q8_0, 37, 256);
    let (_, b) = matrix(GgmlDType::Q4_1, 24, 256);
    let (_, c) = matrix(GgmlDType::Q6K, 8, 256);
    assert!(!a.is_tiled() && b.is_tiled() && c.is_tiled());
    let x = random(5 * 256, 4);
    let acts = Acts::quantize(&x, 256);
    let (mut ya, mut yb, mut yc) = (vec![0f32; 5 * 37], vec![0f32; 5 * 24], vec![0f32; 5 * 8]);
    matmul_many(&[&a, &b, &c], &acts, &mut [&mut ya, &mut yb, &mut yc], best_kernel());
    let (mut wa, mut wb, mut wc) = (vec![0f32; 5 * 37], vec![0f32; 5 * 24], vec![0f32; 5 * 8]);
    a.matmul(&x, &mut wa);
    b.matmul(&x, &mut wb);
    c.matmul(&x, &mut wc);
    assert_eq!((ya, yb, yc), (wa, wb, wc));
}
