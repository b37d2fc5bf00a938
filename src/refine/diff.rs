//! Word diffs between a draft and a candidate, and the alignment of their steps, for the compare
//! view (the `similar` crate does the diffing).

use similar::{capture_diff_slices, Algorithm, ChangeTag, DiffOp, TextDiff};

/// A run of words that is in both texts, only in the old one, or only in the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Same(String),
    Removed(String),
    Added(String),
}

/// The word-level diff of `old` → `new`, neighbouring words of one kind merged into one piece.
pub fn word_diff(old: &str, new: &str) -> Vec<Piece> {
    let diff = TextDiff::from_words(old, new);
    let mut out: Vec<Piece> = Vec::new();
    for change in diff.iter_all_changes() {
        let text = change.value();
        let piece = match change.tag() {
            ChangeTag::Equal => Piece::Same(text.to_string()),
            ChangeTag::Delete => Piece::Removed(text.to_string()),
            ChangeTag::Insert => Piece::Added(text.to_string()),
        };
        match (out.last_mut(), &piece) {
            (Some(Piece::Same(a)), Piece::Same(b))
            | (Some(Piece::Removed(a)), Piece::Removed(b))
            | (Some(Piece::Added(a)), Piece::Added(b)) => a.push_str(b),
            _ => out.push(piece),
        }
    }
    out
}

/// Pairs the steps of a draft and a candidate: identical steps line up (a kept prefix), a
/// replaced run pairs its steps in order, and what is left over stands alone.
pub fn align_steps(draft: &[&str], candidate: &[&str]) -> Vec<(Option<usize>, Option<usize>)> {
    let norm = |s: &&str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let a: Vec<String> = draft.iter().map(norm).collect();
    let b: Vec<String> = candidate.iter().map(norm).collect();
    let mut out = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, &a, &b) {
        match op {
            DiffOp::Equal { old_index, new_index, len } => {
                out.extend((0..len).map(|k| (Some(old_index + k), Some(new_index + k))));
            }
            DiffOp::Delete { old_index, old_len, .. } => out.extend((0..old_len).map(|k| (Some(old_index + k), None))),
            DiffOp::Insert { new_index, new_len, .. } => out.extend((0..new_len).map(|k| (None, Some(new_index + k)))),
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                for k in 0..old_len.max(new_len) {
                    out.push(((k < old_len).then_some(old_index + k), (k < new_len).then_some(new_index + k)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_changed_are_marked() {
        let d = word_diff("So 108 - 102 = 5 muffins are left.", "So 108 - 102 = 6 muffins are left.");
        assert_eq!(
            d,
            [
                Piece::Same("So 108 - 102 = ".into()),
                Piece::Removed("5".into()),
                Piece::Added("6".into()),
                Piece::Same(" muffins are left.".into()),
            ]
        );
        // Joining the old pieces gives the old text back, and the new pieces the new one.
        let old: String = d
            .iter()
            .filter_map(|p| match p {
                Piece::Same(s) | Piece::Removed(s) => Some(s.as_str()),
                Piece::Added(_) => None,
            })
            .collect();
        assert_eq!(old, "So 108 - 102 = 5 muffins are left.");
        assert_eq!(word_diff("same", "same"), [Piece::Same("same".into())]);
    }

    #[test]
    fn a_kept_prefix_lines_up_and_the_rewrite_pairs_in_order() {
        let draft = ["12 × 9 = 108.", "85 + 17 = 112.", "108 - 112 = -4.", "The answer is -4."];
        let cand = ["12 × 9 = 108.", "85 + 17  = 102.", "108 - 102 = 6.", "So 6 are left.", "The answer is 6."];
        let al = align_steps(&draft, &cand);
        assert_eq!(al[0], (Some(0), Some(0)), "the kept step");
        assert_eq!(
            &al[1..],
            [(Some(1), Some(1)), (Some(2), Some(2)), (Some(3), Some(3)), (None, Some(4))],
            "replaced steps pair in order, the extra one stands alone"
        );
        // Whitespace differences do not break a kept step.
        assert_eq!(align_steps(&["a  b"], &["a b"]), [(Some(0), Some(0))]);
        assert_eq!(align_steps(&["x", "y"], &[]), [(Some(0), None), (Some(1), None)]);
    }
}
