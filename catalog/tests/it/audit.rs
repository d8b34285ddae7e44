//! The audit log's chain as separate processes see it: each finds the head of the log
//! on its first append, however many entries the log already holds.

use sannong_catalog::audit::{AuditEvent, AuditLog};

use crate::support::temp_catalog;

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        actor: "tester".into(),
        role: "cli".into(),
        action: "query".into(),
        target: format!("SELECT {n}"),
        outcome: "ok".into(),
        rows: Some(1),
        detail: serde_json::Value::Null,
    }
}

#[tokio::test]
async fn a_new_process_continues_the_chain_at_its_head_whatever_its_length() {
    let (_dir, catalog) = temp_catalog().await;
    // A first process appends to an empty log from entry 0.
    let first = AuditLog::new().append(&catalog, event(0)).await.unwrap();
    assert_eq!(first.seq, 0);
    // Lengths around powers of two, where the search for the head turns.
    let mut written = 1;
    for length in [2usize, 3, 4, 5, 8, 9, 33, 64, 100] {
        let writer = AuditLog::new();
        while written < length {
            writer.append(&catalog, event(written)).await.unwrap();
            written += 1;
        }
        // A new process (a new log handle) knows nothing of the head and must find it.
        let next = AuditLog::new()
            .append(&catalog, event(written))
            .await
            .unwrap();
        assert_eq!(next.seq, written as u64, "after {written} entries");
        written += 1;
        let verification = AuditLog::new().verify(&catalog).await.unwrap();
        assert_eq!(verification.entries, written as u64);
        assert!(verification.broken.is_none(), "{verification:?}");
    }
}

#[tokio::test]
async fn a_process_whose_head_is_far_behind_appends_after_the_others_entries() {
    let (_dir, catalog) = temp_catalog().await;
    // Two processes sharing one store: the first knows the head after its own append…
    let behind = AuditLog::new();
    assert_eq!(behind.append(&catalog, event(0)).await.unwrap().seq, 0);
    // …while the second appends far more entries than one process would retry.
    let busy = AuditLog::new();
    for n in 1..=120 {
        busy.append(&catalog, event(n)).await.unwrap();
    }
    let next = behind.append(&catalog, event(121)).await.unwrap();
    assert_eq!(next.seq, 121);
    let verification = AuditLog::new().verify(&catalog).await.unwrap();
    assert_eq!(verification.entries, 122);
    assert!(verification.broken.is_none(), "{verification:?}");
}
