//! Counters in Redis, shared by every Sovra replica that points at it.
//!
//! One Lua script reads every bucket of a request, and only if none would
//! go over its limit adds the cost to all of them: Redis runs a script
//! alone, so the check and the count are one atomic step across replicas.
//! The window comes from Redis's own clock (`TIME`), so replicas whose
//! clocks disagree still count in the same window. Each window is its own
//! key (`PREFIX:BUCKET:WINDOW`) that expires a minute after its window ends,
//! so Redis holds only live counters. The keys are built inside the script,
//! which a single Redis (or a primary with replicas) allows; Redis Cluster
//! is not supported.
//!
//! Every call has a deadline; a Redis that is down or slow is a
//! [`CounterError`], and the limiter's failure policy decides what the
//! request gets. The connection manager reconnects on its own.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::counter::{Adjust, Ask, Counter, CounterError, Taken};

/// KEYS: the buckets; ARGV: limit, period, cost per bucket.
/// Returns {granted (1/0), denied index (1-based, 0 if granted), now s, now µs, used…}.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1])
local n = #KEYS
local keys, used = {}, {}
for i = 1, n do
  local period = tonumber(ARGV[3 * i - 1])
  keys[i] = KEYS[i] .. ':' .. string.format('%d', math.floor(now / period))
  used[i] = tonumber(redis.call('GET', keys[i]) or '0')
end
for i = 1, n do
  if used[i] + tonumber(ARGV[3 * i]) > tonumber(ARGV[3 * i - 2]) then
    return {0, i, now, tonumber(t[2]), unpack(used)}
  end
end
for i = 1, n do
  local cost = tonumber(ARGV[3 * i])
  if cost > 0 then
    used[i] = redis.call('INCRBY', keys[i], cost)
    if redis.call('TTL', keys[i]) < 0 then
      redis.call('EXPIRE', keys[i], tonumber(ARGV[3 * i - 1]) + 60)
    end
  end
end
return {1, 0, now, tonumber(t[2]), unpack(used)}
";

/// KEYS: the buckets; ARGV: window, delta per bucket. A counter that is gone
/// stays gone; none goes below zero.
const ADJUST: &str = r"
for i = 1, #KEYS do
  local k = KEYS[i] .. ':' .. ARGV[2 * i - 1]
  local d = tonumber(ARGV[2 * i])
  if d ~= 0 and redis.call('EXISTS', k) == 1 then
    if redis.call('INCRBY', k, d) < 0 then
      redis.call('SET', k, 0, 'KEEPTTL')
    end
  end
end
return 1
";

/// Counters in one Redis.
#[derive(Clone)]
pub struct RedisCounter {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    take: redis::Script,
    adjust: redis::Script,
}

impl RedisCounter {
    /// Connect lazily to `url` (`redis://host:port/db`): a Redis that is
    /// down at start is not fatal, requests follow the failure policy until
    /// it answers. Keys are `prefix:…`; every call gives up after `timeout`.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, CounterError> {
        let client =
            redis::Client::open(url).map_err(|e| CounterError::Unavailable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| CounterError::Unavailable(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            timeout,
            take: redis::Script::new(TAKE),
            adjust: redis::Script::new(ADJUST),
        })
    }

    /// Whether Redis answers now (a `PING` within the timeout).
    pub async fn ping(&self) -> Result<(), CounterError> {
        let mut c = self.connection.clone();
        self.deadline(async move {
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(|_| ())
        })
        .await
    }

    fn key(&self, id: &str) -> String {
        format!("{}:{id}", self.prefix)
    }

    async fn deadline<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CounterError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(CounterError::Unavailable(e.to_string())),
            Err(_) => Err(CounterError::Timeout(self.timeout)),
        }
    }
}

#[async_trait::async_trait]
impl Counter for RedisCounter {
    async fn take(&self, asks: &[Ask]) -> Result<Taken, CounterError> {
        let mut invocation = self.take.prepare_invoke();
        for a in asks {
            invocation
                .key(self.key(&a.id))
                .arg(a.limit)
                .arg(a.period_secs.max(1))
                .arg(a.cost);
        }
        let mut c = self.connection.clone();
        let reply: Vec<i64> = self
            .deadline(async move { invocation.invoke_async(&mut c).await })
            .await?;
        let bad = || CounterError::Unavailable(format!("unexpected reply from Redis: {reply:?}"));
        let [granted, index, secs, micros, used @ ..] = reply.as_slice() else {
            return Err(bad());
        };
        if used.len() != asks.len() {
            return Err(bad());
        }
        let now = Duration::from_secs(u64::try_from(*secs).unwrap_or(0))
            + Duration::from_micros(u64::try_from(*micros).unwrap_or(0));
        let used = used
            .iter()
            .map(|u| u64::try_from(*u).unwrap_or(0))
            .collect();
        Ok(match (granted, usize::try_from(*index)) {
            (1, _) => Taken::Granted { now, used },
            (0, Ok(i)) if (1..=asks.len()).contains(&i) => Taken::Denied {
                now,
                index: i - 1,
                used,
            },
            _ => return Err(bad()),
        })
    }

    async fn adjust(&self, adjustments: &[Adjust]) -> Result<(), CounterError> {
        if adjustments.iter().all(|a| a.delta == 0) {
            return Ok(());
        }
        let mut invocation = self.adjust.prepare_invoke();
        for a in adjustments {
            invocation.key(self.key(&a.id)).arg(a.window).arg(a.delta);
        }
        let mut c = self.connection.clone();
        let _: i64 = self
            .deadline(async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(())
    }
}
