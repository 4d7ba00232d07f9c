//! The short soak (`make soak` runs the long one): lambda-lens in the sandbox through a random
//! mix of invocations and faults, with every check of `lambda_lens_harness::soak`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use lambda_lens_harness::soak;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn a_short_soak_keeps_every_promise() {
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
    let s = soak::soak(&bootstrap, &layer, 200, 7).await.expect("sandbox run");
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    assert!(s.resets > 0, "the mix included resets: {:?}", s.faults);
    assert!(s.peak_memory_mib.is_some(), "the extension reported its memory");
}

#[test]
fn the_soaks_checks_find_a_missing_a_doubled_and_a_heavy_invocation() {
    let doc = |json: &str| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json).unwrap();
    let seen = [
        soak::Seen {
            request_id: "a",
            kind: "ok",
            documents: 2,
        },
        soak::Seen {
            request_id: "b",
            kind: "timeout",
            documents: 0,
        },
    ];
    let docs = [
        doc(r#"{"RequestId":"a","Invocations":1}"#),
        doc(r#"{"RequestId":"a","Invocations":1}"#),
        doc(r#"{"Shutdowns":1,"ExtensionMemory":40.5}"#),
    ];
    let (problems, peak) = soak::check_invocations(&seen, &docs);
    assert_eq!(peak, Some(40.5));
    // a twice, b never, and the memory over the bound; the sum (2 of 2) happens to hold.
    assert_eq!(problems.len(), 3, "{problems:#?}");
}
