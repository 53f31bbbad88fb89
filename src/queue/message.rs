//! What travels on the streams: a job entry (`evonas:jobs`) and a result entry (a campaign's
//! results stream), each a flat list of fields, decoded defensively: anyone who can write to
//! the Redis server can write an entry, so a decoder bounds sizes, checks the schema and the
//! key names, and says what is wrong instead of panicking.

use serde::{Deserialize, Serialize};

use crate::eval::job::{Evaluation, Job};

/// Queue message schema written by this build; entries of another schema are refused.
pub const QUEUE_SCHEMA: u32 = 1;

/// Largest job accepted (a job carries its space file's text).
pub const MAX_JOB_BYTES: usize = 16 << 20;

/// Largest result accepted (an evaluation with its curves).
pub const MAX_RESULT_BYTES: usize = 16 << 20;

/// Prefix of every key evonas writes.
pub const PREFIX: &str = "evonas:";

/// The job stream.
pub const JOBS: &str = "evonas:jobs";

/// The consumer group of workers on [`JOBS`].
pub const GROUP: &str = "workers";

/// A job's id: 32 hex digits derived from the campaign, the round and the slot, so publishing a
/// job again (a resumed coordinator) names the same job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId([u8; 16]);

impl JobId {
    /// The id of `job`, slot `slot` of round `round` of the campaign keyed `campaign`. The job's
    /// function, protocol and repeat are part of it, so an answer to another job that held the
    /// same place (a campaign started again under the same name) never answers this one.
    pub fn of(campaign: &CampaignKey, round: u64, slot: u32, job: &Job) -> JobId {
        let mut h = blake3::Hasher::new();
        h.update(b"evonas job");
        h.update(&campaign.0);
        h.update(&round.to_le_bytes());
        h.update(&slot.to_le_bytes());
        h.update(job.hash.to_string().as_bytes());
        h.update(job.protocol.to_string().as_bytes());
        h.update(&job.repeat.to_le_bytes());
        let mut id = [0; 16];
        id.copy_from_slice(&h.finalize().as_bytes()[..16]);
        JobId(id)
    }

    fn parse(text: &str) -> Option<JobId> {
        let bytes = crate::hex::decode(text)?;
        Some(JobId(bytes.try_into().ok()?))
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::hex::encode(&self.0))
    }
}

/// A campaign's key on the queue: derived from the store's folder and the campaign's name, so
/// two stores' campaigns of one name never read each other's results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CampaignKey([u8; 16]);

impl CampaignKey {
    /// The key of campaign `name`, created at `created_unix`, in the store at `store_dir` (the
    /// creation time tells a campaign from an earlier one of that name in a wiped store).
    pub fn of(store_dir: &std::path::Path, name: &str, created_unix: u64) -> CampaignKey {
        let dir = std::fs::canonicalize(store_dir).unwrap_or_else(|_| store_dir.to_path_buf());
        let mut h = blake3::Hasher::new();
        h.update(b"evonas campaign");
        h.update(dir.to_string_lossy().as_bytes());
        h.update(&[0]);
        h.update(name.as_bytes());
        h.update(&created_unix.to_le_bytes());
        let mut id = [0; 16];
        id.copy_from_slice(&h.finalize().as_bytes()[..16]);
        CampaignKey(id)
    }

    /// The stream its results are written to.
    pub fn results(&self) -> String {
        format!("{PREFIX}results:{}", crate::hex::encode(&self.0))
    }

    /// The hash from its job ids to their entries on [`JOBS`].
    pub fn published(&self) -> String {
        format!("{PREFIX}published:{}", crate::hex::encode(&self.0))
    }
}

/// Whether `key` is a results stream's name (a job may only ask for its answer there).
fn is_results_key(key: &str) -> bool {
    key.strip_prefix(PREFIX)
        .and_then(|k| k.strip_prefix("results:"))
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A job entry.
#[derive(Clone, Debug, PartialEq)]
pub struct JobMessage {
    /// The job's id.
    pub id: JobId,
    /// Where the answer goes.
    pub reply: String,
    /// Deliveries after which the job is answered as poison instead of evaluated.
    pub max_deliveries: u32,
    /// The job.
    pub job: Job,
}

/// What a worker answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// The job ran.
    Evaluation {
        /// What it produced.
        evaluation: Box<Evaluation>,
    },
    /// The worker could not run it (malformed, unknown protocol, evaluator cannot be built).
    Refused {
        /// Why.
        reason: String,
    },
    /// Delivered more than its `max_deliveries` times without an answer: every worker that
    /// took it died or was killed.
    Poison {
        /// Deliveries so far.
        deliveries: u64,
    },
}

/// A result entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultMessage {
    /// The job answered.
    pub id: JobId,
    /// The worker (consumer) that answered.
    pub worker: String,
    /// The answer.
    pub answer: Answer,
}

/// Why an entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MessageError(pub String);

/// A stream entry's fields.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn field<'a>(fields: &'a Fields, name: &str) -> Result<&'a [u8], MessageError> {
    let mut found = fields.iter().filter(|(k, _)| k == name.as_bytes());
    match (found.next(), found.next()) {
        (Some((_, v)), None) => Ok(v),
        (None, _) => Err(MessageError(format!("no field `{name}`"))),
        (Some(_), Some(_)) => Err(MessageError(format!("field `{name}` given twice"))),
    }
}

fn text<'a>(fields: &'a Fields, name: &str, max: usize) -> Result<&'a str, MessageError> {
    let v = field(fields, name)?;
    if v.len() > max {
        return Err(MessageError(format!(
            "field `{name}` is {} bytes, more than the {max} allowed",
            v.len()
        )));
    }
    std::str::from_utf8(v).map_err(|_| MessageError(format!("field `{name}` is not UTF-8")))
}

fn schema(fields: &Fields) -> Result<(), MessageError> {
    let v = text(fields, "v", 16)?;
    if v != QUEUE_SCHEMA.to_string() {
        return Err(MessageError(format!(
            "queue schema {} (this evonas reads {QUEUE_SCHEMA})",
            crate::error::excerpt(v)
        )));
    }
    Ok(())
}

fn id(fields: &Fields) -> Result<JobId, MessageError> {
    let v = text(fields, "id", 64)?;
    JobId::parse(v).ok_or_else(|| {
        MessageError(format!(
            "`id` {} is not 32 hex digits",
            crate::error::excerpt(v)
        ))
    })
}

impl JobMessage {
    /// The entry's fields.
    pub fn encode(&self) -> Fields {
        vec![
            (b"v".to_vec(), QUEUE_SCHEMA.to_string().into_bytes()),
            (b"id".to_vec(), self.id.to_string().into_bytes()),
            (b"reply".to_vec(), self.reply.clone().into_bytes()),
            (
                b"max_deliveries".to_vec(),
                self.max_deliveries.to_string().into_bytes(),
            ),
            (
                b"job".to_vec(),
                serde_json::to_vec(&self.job).expect("jobs serialise"),
            ),
        ]
    }

    /// The id and reply stream of an entry, if they at least are readable (so a worker can
    /// answer a job it refuses instead of leaving its coordinator waiting).
    pub fn address(fields: &Fields) -> Option<(JobId, String)> {
        let reply = text(fields, "reply", 128).ok()?;
        is_results_key(reply).then_some(())?;
        Some((id(fields).ok()?, reply.to_string()))
    }

    /// Reads an entry.
    pub fn decode(fields: &Fields) -> Result<JobMessage, MessageError> {
        schema(fields)?;
        let id = id(fields)?;
        let reply = text(fields, "reply", 128)?;
        if !is_results_key(reply) {
            return Err(MessageError(format!(
                "`reply` {} is not a results stream ({PREFIX}results:<32 hex digits>)",
                crate::error::excerpt(reply)
            )));
        }
        let max_deliveries = text(fields, "max_deliveries", 16)?
            .parse::<u32>()
            .map_err(|e| MessageError(format!("`max_deliveries`: {e}")))?;
        let job_bytes = field(fields, "job")?;
        if job_bytes.len() > MAX_JOB_BYTES {
            return Err(MessageError(format!(
                "the job is {} bytes, more than the {MAX_JOB_BYTES} allowed",
                job_bytes.len()
            )));
        }
        let mut de = serde_json::Deserializer::from_slice(job_bytes);
        let job: Job = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| MessageError(format!("the job does not parse: {e}")))?;
        Ok(JobMessage {
            id,
            reply: reply.to_string(),
            max_deliveries,
            job,
        })
    }
}

impl ResultMessage {
    /// The entry's fields.
    pub fn encode(&self) -> Fields {
        vec![
            (b"v".to_vec(), QUEUE_SCHEMA.to_string().into_bytes()),
            (b"id".to_vec(), self.id.to_string().into_bytes()),
            (b"worker".to_vec(), self.worker.clone().into_bytes()),
            (
                b"answer".to_vec(),
                serde_json::to_vec(&self.answer).expect("answers serialise"),
            ),
        ]
    }

    /// The job an entry answers, without reading the answer (which may be megabytes).
    pub fn id_of(fields: &Fields) -> Option<JobId> {
        schema(fields).ok()?;
        id(fields).ok()
    }

    /// Reads an entry.
    pub fn decode(fields: &Fields) -> Result<ResultMessage, MessageError> {
        schema(fields)?;
        let id = id(fields)?;
        let worker = text(fields, "worker", 256)?.to_string();
        let bytes = field(fields, "answer")?;
        if bytes.len() > MAX_RESULT_BYTES {
            return Err(MessageError(format!(
                "the answer is {} bytes, more than the {MAX_RESULT_BYTES} allowed",
                bytes.len()
            )));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let answer: Answer = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| MessageError(format!("the answer does not parse: {e}")))?;
        Ok(ResultMessage { id, worker, answer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn ids_derive_from_campaign_round_slot_and_job() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "schema": 1, "space": {"builtin": "nb201"},
            "genotype": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "evaluator": {"kind": "mock"}, "protocol": "00".repeat(32),
            "hash": format!("f3:{}", "11".repeat(32)), "repeat": 0
        }))
        .unwrap();
        let mut again = job.clone();
        again.repeat = 1;
        let a = CampaignKey::of(std::path::Path::new("/nonexistent/store"), "c", 5);
        let b = CampaignKey::of(std::path::Path::new("/nonexistent/store"), "d", 5);
        let c = CampaignKey::of(std::path::Path::new("/nonexistent/store"), "c", 6);
        assert_eq!(JobId::of(&a, 3, 1, &job), JobId::of(&a, 3, 1, &job));
        assert_ne!(JobId::of(&a, 3, 1, &job), JobId::of(&a, 3, 2, &job));
        assert_ne!(JobId::of(&a, 3, 1, &job), JobId::of(&b, 3, 1, &job));
        assert_ne!(JobId::of(&a, 3, 1, &job), JobId::of(&c, 3, 1, &job));
        assert_ne!(JobId::of(&a, 3, 1, &job), JobId::of(&a, 3, 1, &again));
        let id = JobId::of(&a, 3, 1, &job);
        assert_eq!(JobId::parse(&id.to_string()), Some(id));
        assert!(is_results_key(&a.results()));
        assert!(!is_results_key("evonas:jobs") && !is_results_key("results:00"));
    }

    #[test]
    fn hostile_entries_are_refused_with_a_reason() {
        let key = CampaignKey::of(std::path::Path::new("/x"), "c", 0).results();
        let ok_id = "0123456789abcdef0123456789abcdef";
        let cases: Vec<(Fields, &str)> = vec![
            (fields(&[("hello", "world")]), "no field `v`"),
            (fields(&[("v", "9"), ("id", ok_id)]), "queue schema 9"),
            (fields(&[("v", "1"), ("v", "1")]), "given twice"),
            (fields(&[("v", "1"), ("id", "zz")]), "not 32 hex digits"),
            (
                fields(&[
                    ("v", "1"),
                    ("id", ok_id),
                    ("reply", "some:other:key"),
                    ("max_deliveries", "3"),
                    ("job", "{}"),
                ]),
                "not a results stream",
            ),
            (
                fields(&[
                    ("v", "1"),
                    ("id", ok_id),
                    ("reply", &key),
                    ("max_deliveries", "3"),
                    ("job", "{\"schema\": 1}"),
                ]),
                "the job does not parse",
            ),
        ];
        for (f, want) in cases {
            let e = JobMessage::decode(&f).unwrap_err().to_string();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
        let mut huge = fields(&[
            ("v", "1"),
            ("id", ok_id),
            ("reply", &key),
            ("max_deliveries", "3"),
        ]);
        huge.push((b"job".to_vec(), vec![b' '; MAX_JOB_BYTES + 1]));
        let e = JobMessage::decode(&huge).unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
        // Its address is still readable, so the worker can refuse it to its coordinator.
        assert_eq!(
            JobMessage::address(&huge).map(|(i, _)| i.to_string()),
            Some(ok_id.to_string())
        );
        let e = ResultMessage::decode(&fields(&[
            ("v", "1"),
            ("id", ok_id),
            ("worker", "w"),
            ("answer", "{\"kind\": \"evaluation\"}"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not parse"), "{e}");
    }

    #[test]
    fn answers_round_trip() {
        let id = JobId::parse("0123456789abcdef0123456789abcdef").unwrap();
        for answer in [
            Answer::Refused {
                reason: "nope".into(),
            },
            Answer::Poison { deliveries: 4 },
        ] {
            let m = ResultMessage {
                id,
                worker: "w-1".into(),
                answer,
            };
            assert_eq!(ResultMessage::decode(&m.encode()).unwrap(), m);
        }
    }
}
