//! The behaviour every [`Store`] must have, as one suite.
//!
//! Each backend's tests call [`run_all`] with a fresh, empty store. Failures
//! panic with a message naming the broken promise.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use sovra_core::openai::Role;

use crate::{MessageUsage, NewMessage, Store, StoreError};

/// Run every conformance check against an empty store.
pub async fn run_all(store: &dyn Store) {
    store.ping().await.expect("ping");
    conversations_round_trip(store).await;
    messages_keep_order_and_usage(store).await;
    appending_bumps_updated_and_list_order(store).await;
    delete_removes_messages(store).await;
    append_to_missing_conversation_fails(store).await;
}

async fn conversations_round_trip(store: &dyn Store) {
    let c = store
        .create_conversation("Passport renewal")
        .await
        .expect("create");
    let got = store
        .get_conversation(&c.id)
        .await
        .expect("get")
        .expect("created conversation is found");
    assert_eq!(got, c);
    assert!(
        store
            .rename_conversation(&c.id, "Renamed")
            .await
            .expect("rename")
    );
    let got = store
        .get_conversation(&c.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.title, "Renamed");
    assert!(
        store
            .get_conversation("conv-missing")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        !store
            .rename_conversation("conv-missing", "x")
            .await
            .expect("rename missing")
    );
}

async fn messages_keep_order_and_usage(store: &dyn Store) {
    let c = store.create_conversation("order").await.expect("create");
    for i in 0..5 {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        let usage = (role == Role::Assistant).then(|| MessageUsage {
            prompt_tokens: 10 + i,
            completion_tokens: 3,
            finish_reason: "stop".into(),
        });
        let content = format!("message {i} — ünïcødé ✓");
        store
            .append_message(
                &c.id,
                NewMessage {
                    role,
                    content: &content,
                    usage,
                },
            )
            .await
            .expect("append");
    }
    let msgs = store.messages(&c.id).await.expect("messages");
    assert_eq!(msgs.len(), 5);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(
            m.content,
            format!("message {i} — ünïcødé ✓"),
            "messages come back in append order"
        );
    }
    assert_eq!(msgs[1].role, Role::Assistant);
    assert_eq!(msgs[1].usage.as_ref().map(|u| u.prompt_tokens), Some(11));
    assert!(msgs[0].usage.is_none());
}

async fn appending_bumps_updated_and_list_order(store: &dyn Store) {
    let a = store.create_conversation("older").await.expect("create");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = store.create_conversation("newer").await.expect("create");
    let list = store.list_conversations(100).await.expect("list");
    let pos = |id: &str| list.iter().position(|c| c.id == id).expect("listed");
    assert!(pos(&b.id) < pos(&a.id), "newest-updated first");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .append_message(
            &a.id,
            NewMessage {
                role: Role::User,
                content: "bump",
                usage: None,
            },
        )
        .await
        .expect("append");
    let list = store.list_conversations(100).await.expect("list");
    let pos = |id: &str| list.iter().position(|c| c.id == id).expect("listed");
    assert!(
        pos(&a.id) < pos(&b.id),
        "appending moves a conversation to the top"
    );
    assert_eq!(
        store.list_conversations(1).await.expect("list").len(),
        1,
        "limit is honoured"
    );
}

async fn delete_removes_messages(store: &dyn Store) {
    let c = store
        .create_conversation("to delete")
        .await
        .expect("create");
    store
        .append_message(
            &c.id,
            NewMessage {
                role: Role::User,
                content: "bye",
                usage: None,
            },
        )
        .await
        .expect("append");
    assert!(store.delete_conversation(&c.id).await.expect("delete"));
    assert!(store.get_conversation(&c.id).await.expect("get").is_none());
    assert!(
        store.messages(&c.id).await.expect("messages").is_empty(),
        "messages go with their conversation"
    );
    assert!(
        !store
            .delete_conversation(&c.id)
            .await
            .expect("delete again")
    );
}

async fn append_to_missing_conversation_fails(store: &dyn Store) {
    let err = store
        .append_message(
            "conv-missing",
            NewMessage {
                role: Role::User,
                content: "x",
                usage: None,
            },
        )
        .await;
    assert!(matches!(err, Err(StoreError::NoConversation(_))), "{err:?}");
}
