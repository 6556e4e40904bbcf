//! Router tests: the sovereignty invariant as a property, and admission
//! through the real router over in-process simulated engines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::{Rng, SeedableRng};
use sovra_config::fleet::{BackendSettings, RouterSettings, RoutingPolicy, SovereigntySettings};
use sovra_core::openai::Role;
use sovra_engine::sim::{SimConfig, SimEngine};
use sovra_engine::{Engine, EngineError, Event, GenerateRequest, Priority, SamplingParams, Turn};

use crate::backend::Backend;
use crate::policy::{PolicyState, RouteInput, Sessions, choose};
use crate::{FleetConfig, Router, RouterError, eligible};

fn settings(name: &str, jurisdiction: &str) -> BackendSettings {
    BackendSettings {
        name: name.into(),
        url: "embedded".into(),
        models: vec!["m".into()],
        jurisdiction: jurisdiction.into(),
        site: "site".into(),
        weight: None,
        max_concurrency: None,
        api_key: None,
    }
}

fn sim(ttft_ms: u64) -> Arc<dyn Engine> {
    Arc::new(SimEngine::new(SimConfig {
        model_id: "m".into(),
        time_to_first_token: Duration::from_millis(ttft_ms),
        tokens_per_second: 0.0,
        default_answer_tokens: 4,
        ..SimConfig::default()
    }))
}

fn ask(text: &str, priority: Priority, tenant: &str) -> GenerateRequest {
    let mut r = GenerateRequest::chat(vec![Turn::new(Role::User, text)], SamplingParams::default());
    r.model = Some("m".into());
    r.hints.priority = priority;
    r.hints.tenant = Some(tenant.into());
    r
}

/// Whatever the fleet's states, loads, policy and requests, the backend
/// chosen is always in an allowed jurisdiction.
#[test]
fn no_placement_ever_leaves_the_allowed_jurisdictions() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let codes = ["EE", "LV", "US", "CN", "DE"];
    let now = Instant::now();
    let cfg = RouterSettings::default();
    for round in 0..300 {
        let allowed: Vec<String> = codes
            .iter()
            .filter(|_| rng.random_bool(0.4))
            .map(|c| (*c).to_owned())
            .collect();
        let sovereignty = SovereigntySettings {
            allowed_jurisdictions: allowed,
        };
        let fleet: Vec<Arc<Backend>> = (0..rng.random_range(1..8))
            .map(|i| {
                let j = codes[rng.random_range(0..codes.len())];
                let b = Arc::new(Backend::new(
                    settings(&format!("b{i}"), j),
                    sim(0),
                    None,
                    64,
                ));
                match rng.random_range(0..5) {
                    0 => b.drain(true),
                    1 => {
                        for _ in 0..cfg.eject_after_failures {
                            b.record_failure(now, &cfg);
                        }
                    }
                    2 => b.reserve(rng.random_range(0..10_000)),
                    _ => {}
                }
                b
            })
            .collect();
        let mut state = PolicyState {
            rr: round,
            sessions: Sessions::new(16),
        };
        for k in 0..20 {
            let mut req = ask(&"shared prefix ".repeat(k % 5 + 1), Priority::Citizen, "t");
            req.hints.session = Some(format!("s{}", k % 3));
            let input = RouteInput::new(&req, "m".into(), 16);
            let candidates: Vec<Arc<Backend>> = fleet
                .iter()
                .filter(|b| eligible(b, &sovereignty, "m", &[], now))
                .cloned()
                .collect();
            let policy = [
                RoutingPolicy::PrefixAware,
                RoutingPolicy::LeastLoaded,
                RoutingPolicy::RoundRobin,
            ][k % 3];
            if let Some((i, _)) = choose(
                policy,
                &input,
                &candidates,
                &mut state,
                now,
                Duration::ZERO,
                100,
            ) {
                let j = &candidates[i].settings.jurisdiction;
                assert!(
                    sovereignty.allows(j),
                    "placed on {j} outside {sovereignty:?}"
                );
                candidates[i].remember_prefix(&input.blocks);
            } else {
                assert!(candidates.is_empty());
            }
        }
    }
}

fn config(backends: Vec<BackendSettings>, router: RouterSettings) -> FleetConfig {
    FleetConfig {
        sovereignty: SovereigntySettings {
            allowed_jurisdictions: vec!["EE".into()],
        },
        backends,
        router,
    }
}

#[tokio::test]
async fn a_foreign_backend_is_refused_by_name_at_start_and_reload() {
    let err = Router::start(
        config(
            vec![settings("tallinn", "EE"), settings("frankfurt", "DE")],
            RouterSettings::default(),
        ),
        Some(sim(0)),
    )
    .err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("frankfurt") && text.contains("DE"), "{text}");

    let router = Router::start(
        config(vec![settings("tallinn", "EE")], RouterSettings::default()),
        Some(sim(0)),
    )
    .unwrap();
    let refused = router.reload(config(
        vec![settings("tallinn", "EE"), settings("frankfurt", "DE")],
        RouterSettings::default(),
    ));
    assert!(matches!(refused, Err(RouterError::Config(_))));
    assert_eq!(
        router.snapshot()["backends"].as_array().map(Vec::len),
        Some(1)
    );
}

/// Wait (on a loaded machine, as long as it takes) until the snapshot
/// value at `pointer` reaches `value`.
async fn until(router: &Router, pointer: &str, value: u64) {
    for _ in 0..2500 {
        if router.snapshot().pointer(pointer).and_then(|v| v.as_u64()) == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{pointer} never reached {value}: {}", router.snapshot());
}

async fn run(router: Router, req: GenerateRequest) -> Result<String, EngineError> {
    let mut s = router.generate(req).await?;
    let mut text = String::new();
    while let Some(item) = s.next().await {
        match item? {
            Event::Delta(d) => text.push_str(&d),
            Event::Logprobs(_) => {}
            Event::Finish(_) => break,
        }
    }
    Ok(text)
}

#[tokio::test]
async fn queued_requests_are_served_by_priority() {
    let mut one = settings("only", "EE");
    one.max_concurrency = Some(1);
    let router = Router::start(
        config(
            vec![one],
            RouterSettings {
                probe_interval_ms: 0,
                ..RouterSettings::default()
            },
        ),
        Some(sim(300)),
    )
    .unwrap();
    // Occupy the one slot, then queue batch, citizen, emergency in that order.
    let busy = tokio::spawn(run(router.clone(), ask("first", Priority::Citizen, "a")));
    until(&router, "/backends/0/in_flight_requests", 1).await;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (name, p) in [
        ("batch", Priority::Batch),
        ("citizen", Priority::Citizen),
        ("emergency", Priority::Emergency),
    ] {
        let (r, order) = (router.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let out = run(r, ask(name, p, name)).await;
            order.lock().unwrap().push(name);
            out
        }));
        until(&router, "/queue/waiting", tasks.len() as u64).await;
    }
    assert!(busy.await.unwrap().is_ok());
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(
        *order.lock().unwrap(),
        vec!["emergency", "citizen", "batch"]
    );
}

#[tokio::test]
async fn a_full_queue_answers_503_and_a_greedy_tenant_429() {
    let mut one = settings("only", "EE");
    one.max_concurrency = Some(1);
    let router = Router::start(
        config(
            vec![one],
            RouterSettings {
                probe_interval_ms: 0,
                queue_depth: 2,
                tenant_queue_percent: 50,
                ..RouterSettings::default()
            },
        ),
        Some(sim(2000)),
    )
    .unwrap();
    let _busy = tokio::spawn(run(router.clone(), ask("x", Priority::Citizen, "a")));
    until(&router, "/backends/0/in_flight_requests", 1).await;
    let _q1 = tokio::spawn(run(router.clone(), ask("y", Priority::Citizen, "a")));
    until(&router, "/queue/waiting", 1).await;
    let greedy = run(router.clone(), ask("z", Priority::Citizen, "a")).await;
    assert!(
        matches!(greedy, Err(EngineError::RateLimited(_))),
        "{greedy:?}"
    );
    let _q2 = tokio::spawn(run(router.clone(), ask("y", Priority::Citizen, "b")));
    until(&router, "/queue/waiting", 2).await;
    let full = run(router.clone(), ask("z", Priority::Citizen, "c")).await;
    assert!(matches!(full, Err(EngineError::Overloaded(_))), "{full:?}");
}

#[tokio::test]
async fn drained_and_ejected_backends_get_no_work_and_the_503_says_why() {
    let router = Router::start(
        config(
            vec![settings("a", "EE"), settings("b", "EE")],
            RouterSettings {
                probe_interval_ms: 0,
                ..RouterSettings::default()
            },
        ),
        Some(sim(0)),
    )
    .unwrap();
    assert!(router.drain("a", true));
    for _ in 0..5 {
        run(router.clone(), ask("hello", Priority::Citizen, "t"))
            .await
            .unwrap();
    }
    let snap = router.snapshot();
    assert_eq!(snap["backends"][0]["served"], 0);
    assert_eq!(snap["backends"][0]["state"], "draining");
    assert_eq!(snap["backends"][1]["served"], 5);
    assert!(router.drain("b", true));
    let err = run(router.clone(), ask("hello", Priority::Citizen, "t")).await;
    let Err(EngineError::Unavailable(m)) = err else {
        panic!("expected 503, got {err:?}");
    };
    assert!(m.contains("a: draining") && m.contains("EE"), "{m}");
}

#[tokio::test]
async fn a_quiet_tenant_is_served_before_a_noisy_tenants_backlog() {
    let mut one = settings("only", "EE");
    one.max_concurrency = Some(1);
    let router = Router::start(
        config(
            vec![one],
            RouterSettings {
                probe_interval_ms: 0,
                tenant_queue_percent: 100,
                ..RouterSettings::default()
            },
        ),
        Some(sim(500)),
    )
    .unwrap();
    let busy = tokio::spawn(run(
        router.clone(),
        ask("first", Priority::Citizen, "noisy"),
    ));
    until(&router, "/backends/0/in_flight_requests", 1).await;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let queued = (0..5)
        .map(|i| ("noisy", format!("noisy-{i}")))
        .chain([("quiet", "quiet-0".to_owned())]);
    for (tenant, name) in queued {
        let (r, order) = (router.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let out = run(r, ask(&name, Priority::Citizen, tenant)).await;
            order.lock().unwrap().push(name);
            out
        }));
        until(&router, "/queue/waiting", tasks.len() as u64).await;
    }
    assert!(busy.await.unwrap().is_ok());
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    let order = order.lock().unwrap().clone();
    // Round-robin between tenants: the quiet one is second, not sixth.
    assert_eq!(order[1], "quiet-0", "{order:?}");
}

/// The cost of one placement decision over 1,000 backends, alone on the
/// machine (no streams competing for the CPU): the router's own share of
/// `sovra_router_decision_seconds` in `scripts/bench-scale.sh`.
/// `cargo test --release -p sovra-router -- --ignored --nocapture decision_time`
#[tokio::test]
#[ignore = "a measurement; prints numbers"]
async fn decision_time_over_a_thousand_backends() {
    let backends: Vec<BackendSettings> = (0..1000)
        .map(|i| settings(&format!("gpu-{i:04}"), "EE"))
        .collect();
    let router = Router::start(
        config(
            backends,
            RouterSettings {
                probe_interval_ms: 0,
                ..RouterSettings::default()
            },
        ),
        Some(sim(0)),
    )
    .unwrap();
    let fleet = router.fleet();
    let system = "You are the assistant of the national services portal. ".repeat(6);
    let mut times = Vec::new();
    let mut leases = std::collections::VecDeque::new();
    for i in 0..20_000u32 {
        // 200 conversations with 4 system prompts; the leases of the last
        // 10,000 stay open, so loads differ as with 10,000 streams.
        let req = GenerateRequest::chat(
            vec![
                Turn::new(Role::System, format!("{} {}", i % 4, system)),
                Turn::new(
                    Role::User,
                    format!("conversation {} turn {}", i % 200, i / 200),
                ),
            ],
            SamplingParams::default(),
        );
        let input = crate::policy::RouteInput::new(&req, "m".into(), 64);
        let started = Instant::now();
        let lease = {
            let mut core = crate::lock(&router.inner.core);
            router.place(&fleet, &mut core.policy, &input, &[], Instant::now())
        };
        times.push(started.elapsed().as_secs_f64() * 1e6);
        let mut lease = lease.unwrap();
        lease.quiet = true;
        leases.push_back(lease);
        if leases.len() > 10_000 {
            leases.pop_front();
        }
    }
    times.sort_by(f64::total_cmp);
    let q = |f: f64| times[((times.len() as f64 - 1.0) * f) as usize];
    eprintln!(
        "placement over 1000 backends, {} decisions: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        times.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0)
    );
    assert!(q(0.5) > 0.0);
}
