//! One connection to the queue's Redis server, reconnecting after a failure, with the stream
//! commands evonas uses spelled out once (XADD, XREADGROUP, XAUTOCLAIM, XCLAIM, XACK, ...).
//!
//! Every command goes through one private `query` method: an I/O error drops the connection,
//! and the next command connects again, so a restarted Redis server costs a failed command, not
//! a process.

use std::time::Duration;

use redis::Value;

use super::address::QueueAddress;
use super::message::{Fields, GROUP, JOBS};

/// A failed queue command.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Cannot connect.
    #[error("cannot connect to the queue at {addr}: {message}")]
    Connect {
        /// The queue.
        addr: String,
        /// Why.
        message: String,
    },
    /// The server answered an error or the connection broke.
    #[error("queue at {addr}: {command} failed: {message}")]
    Command {
        /// The queue.
        addr: String,
        /// The command.
        command: &'static str,
        /// Why.
        message: String,
    },
    /// The server answered something this evonas does not understand.
    #[error("queue at {addr}: unexpected reply to {command}: {reply}")]
    Reply {
        /// The queue.
        addr: String,
        /// The command.
        command: &'static str,
        /// The reply, abridged.
        reply: String,
    },
}

/// A stream entry: its id and fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The entry id (`1700000000000-0`).
    pub id: String,
    /// Its fields.
    pub fields: Fields,
}

/// A connection to the queue.
pub struct Link {
    addr: QueueAddress,
    client: redis::Client,
    conn: Option<redis::Connection>,
}

/// Longest a command may wait for the server beyond its own blocking time.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn string(v: &Value) -> Option<String> {
    String::from_utf8(bytes(v)?).ok()
}

fn entry(v: &Value) -> Option<Entry> {
    let Value::Array(pair) = v else { return None };
    let [id, fields] = pair.as_slice() else {
        return None;
    };
    let id = string(id)?;
    let fields = match fields {
        Value::Array(flat) if flat.len() % 2 == 0 => flat
            .chunks(2)
            .map(|kv| Some((bytes(&kv[0])?, bytes(&kv[1])?)))
            .collect::<Option<Fields>>()?,
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
            .collect::<Option<Fields>>()?,
        // A pending entry deleted from the stream reads as nil fields.
        Value::Nil => Vec::new(),
        _ => return None,
    };
    Some(Entry { id, fields })
}

fn entries(v: &Value) -> Option<Vec<Entry>> {
    match v {
        Value::Array(items) => items.iter().map(entry).collect(),
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

/// The entries of the first stream of an XREAD/XREADGROUP reply (nil: none).
fn read_reply(v: &Value) -> Option<Vec<Entry>> {
    match v {
        Value::Nil => Some(Vec::new()),
        Value::Array(streams) => match streams.first() {
            None => Some(Vec::new()),
            Some(Value::Array(kv)) if kv.len() == 2 => entries(&kv[1]),
            _ => None,
        },
        Value::Map(streams) => match streams.first() {
            None => Some(Vec::new()),
            Some((_, v)) => entries(v),
        },
        _ => None,
    }
}

fn abridged(v: &Value) -> String {
    crate::error::excerpt(&format!("{v:?}"))
}

impl Link {
    /// Connects to `addr` (failing now if the server cannot be reached).
    pub fn connect(addr: &QueueAddress) -> Result<Link, QueueError> {
        if addr.is_tls() {
            // rustls needs a process-wide crypto provider; a second install is a no-op error.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = match (addr.is_tls(), addr.ca()) {
            (true, Some(ca)) => redis::Client::build_with_tls(
                addr.info().clone(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.to_vec()),
                },
            ),
            _ => redis::Client::open(addr.info().clone()),
        }
        .map_err(|e| QueueError::Connect {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
        let mut link = Link {
            addr: addr.clone(),
            client,
            conn: None,
        };
        link.connection(Duration::ZERO)?;
        Ok(link)
    }

    /// The link in `slot`, connecting one first if it is empty (a thread that keeps its link
    /// across failures: a failed connection leaves the slot empty for the next try).
    pub fn reuse<'a>(
        slot: &'a mut Option<Link>,
        addr: &QueueAddress,
    ) -> Result<&'a mut Link, QueueError> {
        if slot.is_none() {
            *slot = Some(Link::connect(addr)?);
        }
        Ok(slot.as_mut().expect("connected above"))
    }

    /// The queue this link talks to.
    pub fn addr(&self) -> &QueueAddress {
        &self.addr
    }

    fn connection(&mut self, block: Duration) -> Result<&mut redis::Connection, QueueError> {
        if self.conn.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(IO_TIMEOUT)
                .map_err(|e| QueueError::Connect {
                    addr: self.addr.to_string(),
                    message: e.to_string(),
                })?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let _ = conn.set_read_timeout(Some(IO_TIMEOUT + block));
        Ok(conn)
    }

    /// Runs `cmd`, which may block on the server for up to `block`.
    fn query(
        &mut self,
        command: &'static str,
        cmd: &redis::Cmd,
        block: Duration,
    ) -> Result<Value, QueueError> {
        let addr = self.addr.to_string();
        let conn = self.connection(block)?;
        match cmd.query::<Value>(conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.conn = None;
                }
                Err(QueueError::Command {
                    addr,
                    command,
                    message: e.to_string(),
                })
            }
        }
    }

    fn unexpected(&self, command: &'static str, v: &Value) -> QueueError {
        QueueError::Reply {
            addr: self.addr.to_string(),
            command,
            reply: abridged(v),
        }
    }

    /// Creates the workers' group on the job stream (and the stream) unless it exists. Made
    /// from entry 0, so jobs published before it existed (after a server restart) are read.
    pub fn ensure_group(&mut self) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(JOBS)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match self.query("XGROUP CREATE", &cmd, Duration::ZERO) {
            Ok(_) => Ok(()),
            Err(QueueError::Command { message, .. }) if message.contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Adds a job entry and records its entry id under `job_id` in the hash `published`, in
    /// one server-side step (a script), so a job is never on the stream without its record.
    pub fn publish(
        &mut self,
        published: &str,
        job_id: &str,
        fields: &Fields,
    ) -> Result<String, QueueError> {
        const SCRIPT: &str = "local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2)) \
             redis.call('HSET', KEYS[2], ARGV[1], id) return id";
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT).arg(2).arg(JOBS).arg(published).arg(job_id);
        for (k, v) in fields {
            cmd.arg(k.as_slice()).arg(v.as_slice());
        }
        let v = self.query("XADD (publish)", &cmd, Duration::ZERO)?;
        string(&v).ok_or_else(|| self.unexpected("XADD (publish)", &v))
    }

    /// The entry id `job_id` was published under, if the hash `published` records one.
    pub fn published_entry(
        &mut self,
        published: &str,
        job_id: &str,
    ) -> Result<Option<String>, QueueError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(published).arg(job_id);
        let v = self.query("HGET", &cmd, Duration::ZERO)?;
        Ok(string(&v))
    }

    /// Forgets `job_id`'s record in `published`.
    pub fn forget(&mut self, published: &str, job_id: &str) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(published).arg(job_id);
        self.query("HDEL", &cmd, Duration::ZERO).map(|_| ())
    }

    /// Whether the job stream still holds entry `id`.
    pub fn job_exists(&mut self, id: &str) -> Result<bool, QueueError> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(JOBS).arg(id).arg(id);
        let v = self.query("XRANGE", &cmd, Duration::ZERO)?;
        let found = entries(&v).ok_or_else(|| self.unexpected("XRANGE", &v))?;
        Ok(!found.is_empty())
    }

    /// A new job for `consumer`, waiting up to `block` for one.
    pub fn read_new(
        &mut self,
        consumer: &str,
        block: Duration,
    ) -> Result<Option<Entry>, QueueError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(JOBS)
            .arg(">");
        let v = self.query("XREADGROUP", &cmd, block)?;
        let mut found = read_reply(&v).ok_or_else(|| self.unexpected("XREADGROUP", &v))?;
        Ok(found.pop())
    }

    /// A job whose holder has not renewed its lease for `min_idle` (a dead worker's), taken
    /// over by `consumer`, with the number of times it has now been delivered. `cursor` is
    /// where the scan of the pending list goes on (XAUTOCLAIM looks at a few entries per call;
    /// starting from the beginning each time would never reach an expired job further down).
    pub fn claim_expired(
        &mut self,
        consumer: &str,
        min_idle: Duration,
        cursor: &mut String,
    ) -> Result<Option<(Entry, u64)>, QueueError> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(JOBS)
            .arg(GROUP)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(cursor.as_str())
            .arg("COUNT")
            .arg(1);
        let v = self.query("XAUTOCLAIM", &cmd, Duration::ZERO)?;
        let claimed = match &v {
            Value::Array(parts) if parts.len() >= 2 => {
                *cursor = string(&parts[0]).unwrap_or_else(|| "0-0".into());
                entries(&parts[1])
            }
            _ => None,
        };
        let Some(mut claimed) = claimed else {
            return Err(self.unexpected("XAUTOCLAIM", &v));
        };
        let Some(entry) = claimed.pop() else {
            return Ok(None);
        };
        let deliveries = self.deliveries(&entry.id)?.unwrap_or(1);
        Ok(Some((entry, deliveries)))
    }

    /// How many times pending entry `id` has been delivered (None: not pending).
    fn deliveries(&mut self, id: &str) -> Result<Option<u64>, QueueError> {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(JOBS).arg(GROUP).arg(id).arg(id).arg(1);
        let v = self.query("XPENDING", &cmd, Duration::ZERO)?;
        let Value::Array(rows) = &v else {
            return Err(self.unexpected("XPENDING", &v));
        };
        Ok(rows.first().and_then(|row| match row {
            Value::Array(cols) if cols.len() == 4 => match &cols[3] {
                Value::Int(n) => u64::try_from(*n).ok(),
                other => string(other).and_then(|s| s.parse().ok()),
            },
            _ => None,
        }))
    }

    /// Renews `consumer`'s lease on pending entry `id` (its idle time restarts; its delivery
    /// count does not grow). With `expire`, makes the lease look expired instead, so another
    /// worker takes the job over at once (a worker that is stopping releases its job).
    pub fn renew(&mut self, consumer: &str, id: &str, expire: bool) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(JOBS).arg(GROUP).arg(consumer).arg(0).arg(id);
        if expire {
            // Eleven days: longer than any lease.
            cmd.arg("IDLE").arg(1_000_000_000u64);
        }
        cmd.arg("JUSTID");
        self.query("XCLAIM", &cmd, Duration::ZERO).map(|_| ())
    }

    /// Writes `answer` to the stream `reply`, acknowledges job entry `id` and deletes it, in
    /// one server-side script: a job leaves the stream only together with its answer (a script
    /// stops at its first error, where MULTI would go on and drop an unanswered job). The
    /// results stream expires a week after its last answer, so a campaign that never reads it
    /// again leaves nothing behind.
    pub fn answer(&mut self, reply: &str, answer: &Fields, id: &str) -> Result<(), QueueError> {
        const SCRIPT: &str = "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2)) \
             redis.call('EXPIRE', KEYS[1], 604800) \
             redis.call('XACK', KEYS[2], 'workers', ARGV[1]) \
             redis.call('XDEL', KEYS[2], ARGV[1]) return 1";
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT).arg(2).arg(reply).arg(JOBS).arg(id);
        for (k, v) in answer {
            cmd.arg(k.as_slice()).arg(v.as_slice());
        }
        self.query("XADD XACK XDEL (answer)", &cmd, Duration::ZERO)
            .map(|_| ())
    }

    /// Drops job entry `id` unanswered (an entry nobody can answer: no readable reply stream,
    /// or a job withdrawn by its coordinator).
    pub fn skip(&mut self, id: &str) -> Result<(), QueueError> {
        const SCRIPT: &str = "redis.call('XACK', KEYS[1], 'workers', ARGV[1]) \
             redis.call('XDEL', KEYS[1], ARGV[1]) return 1";
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT).arg(1).arg(JOBS).arg(id);
        self.query("XACK XDEL (skip)", &cmd, Duration::ZERO)
            .map(|_| ())
    }

    /// Every job entry the hash `published` records.
    pub fn published_entries(&mut self, published: &str) -> Result<Vec<String>, QueueError> {
        let mut cmd = redis::cmd("HVALS");
        cmd.arg(published);
        let v = self.query("HVALS", &cmd, Duration::ZERO)?;
        match &v {
            Value::Array(items) => Ok(items.iter().filter_map(string).collect()),
            _ => Err(self.unexpected("HVALS", &v)),
        }
    }

    /// Up to `count` entries of stream `key` from its start, waiting up to `block` if it is
    /// empty (a coordinator reads its results stream this way and deletes what it committed).
    pub fn read_all(
        &mut self,
        key: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>, QueueError> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(count);
        // BLOCK 0 would wait for ever.
        if !block.is_zero() {
            cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(key).arg("0-0");
        let v = self.query("XREAD", &cmd, block)?;
        read_reply(&v).ok_or_else(|| self.unexpected("XREAD", &v))
    }

    /// Deletes entry `id` of stream `key`.
    pub fn delete(&mut self, key: &str, id: &str) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XDEL");
        cmd.arg(key).arg(id);
        self.query("XDEL", &cmd, Duration::ZERO).map(|_| ())
    }

    /// Deletes key `key`.
    pub fn delete_key(&mut self, key: &str) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        self.query("DEL", &cmd, Duration::ZERO).map(|_| ())
    }

    /// Adds a raw entry to stream `key` (tests and tools write hostile entries this way).
    pub fn add(&mut self, key: &str, fields: &Fields) -> Result<String, QueueError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key).arg("*");
        for (k, v) in fields {
            cmd.arg(k.as_slice()).arg(v.as_slice());
        }
        let v = self.query("XADD", &cmd, Duration::ZERO)?;
        string(&v).ok_or_else(|| self.unexpected("XADD", &v))
    }
}
