//! Final-answer extraction and normalisation on real GSM8K data (read in place from ../shared):
//! the model solutions' `A: …` answers compared with the reference must agree with the dataset's
//! own correctness flags; and the forms answers take (units, commas, `$`, `\boxed{}`, fractions).

mod common;

use stepscope::trace::answer::{extract_answer, normalize, same_answer};

#[test]
fn model_answers_graded_like_the_dataset() {
    let Some(path) = common::shared("data/gsm8k/example_model_solutions.jsonl") else { return };
    let text = std::fs::read_to_string(path).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (line, row) in text.lines().enumerate() {
        let row: serde_json::Value = serde_json::from_str(row).unwrap();
        let reference = extract_answer(row["ground_truth"].as_str().unwrap()).expect("a reference answer");
        for model in ["6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"] {
            let sol = &row[model];
            let flagged = sol["is_correct"].as_bool().unwrap();
            let answer = extract_answer(sol["solution"].as_str().unwrap());
            let ours = answer.as_deref().is_some_and(|a| same_answer(a, &reference));
            checked += 1;
            if ours != flagged {
                wrong.push(format!("line {}: {model}: {answer:?} vs {reference:?}: dataset {flagged}", line + 1));
            }
        }
    }
    assert!(checked >= 30);
    eprintln!("{checked} answers checked, {} disagree", wrong.len());
    assert!(
        wrong.is_empty(),
        "{} of {checked} disagree:\n{}",
        wrong.len(),
        wrong.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn answer_forms() {
    // (written answer, reference) pairs that must grade as the same answer.
    for (a, b) in [
        ("18", "18"),
        ("$18", "18"),
        ("$18.00", "18"),
        ("18 dollars", "18"),
        ("$18 per day", "18"),
        ("5 eggs", "5"),
        ("1,234", "1234"),
        ("$1,000.50", "1000.5"),
        ("20%", "20"),
        ("\\boxed{20\\%}", "20"),
        ("-4", "-4"),
        ("0.5", "\\frac{1}{2}"),
        ("3/6", "1/2"),
        ("\\dfrac{6}{4}", "1.5"),
        ("18.", "18"),
        ("\\text{18 cm}", "18"),
        ("90,000", "90000"),
    ] {
        assert!(same_answer(a, b), "{a:?} should equal {b:?} ({:?} vs {:?})", normalize(a), normalize(b));
    }
    for (a, b) in [("18", "19"), ("18 dollars and 50 cents", "18"), ("1/3", "0.33"), ("x = 18", "18y"), ("-4", "4")] {
        assert!(!same_answer(a, b), "{a:?} should differ from {b:?}");
    }
    // Extraction: the marked answer wins over the last number; else the last number.
    assert_eq!(extract_answer("so 3 + 4 = 7\n#### 7").as_deref(), Some("7"));
    assert_eq!(extract_answer("She makes $18 every day.\nA: 18").as_deref(), Some("18"));
    assert_eq!(extract_answer("It costs $1,250 in total.").as_deref(), Some("1250"));
    assert_eq!(extract_answer("The answer is \\boxed{\\frac{3}{4}}.").as_deref(), Some("\\frac{3}{4}"));
}
