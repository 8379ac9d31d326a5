//! The minutes as data: schema `assize.minutes/1`, built by [`build`] from what the server
//! recorded about a hearing. Pure: no IO, no clock (the time of generation is an input).
//!
//! ## Where each part comes from
//! - the hearing's booking and participants (their roles, and the label the court gave them);
//! - the hearing's audit entries (object `hearing:<id>`), in sequence order: every state change
//!   and who made it, every admission, call, send-back and removal, every connection and
//!   disconnection, protective orders set and lifted, recording starts, stops, failures and
//!   interruptions, connection-quality grade changes, consultation rooms, screens;
//! - the protective orders in force now, and the recordings table (periods, segment counts and
//!   the last chain value).
//!
//! ## Protected witnesses
//! A participant who was under a protective order at any time in this hearing appears **only by
//! pseudonym** (the latest the judge gave), everywhere: in the participant list, as the subject
//! or author of an event, in the order history. Their label is never copied. Audit details are
//! never copied wholesale either: only named fields that carry no personal data.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::hearings::{role_name, state_name};
use crate::store::{
    AuditRow, HearingRecord, ParticipantRecord, ProtectiveOrderRecord, RecordingRecord,
    SegmentRecord,
};

/// The schema name every minutes document carries.
pub const SCHEMA: &str = "assize.minutes/1";

/// Final (sealed when the hearing closed) or a draft made on demand before that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Final,
    Draft,
}

/// The minutes of one hearing. Field order is the document's; the stored form is canonical
/// JSON (RFC 8785), so keys are sorted there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Minutes {
    /// Always [`SCHEMA`].
    pub schema: String,
    pub status: Status,
    /// RFC 3339, UTC.
    pub generated_at: String,
    /// The server that generated and sealed them (its public URL).
    pub server: String,
    pub hearing: HearingInfo,
    pub participants: Vec<Person>,
    /// Everything that happened, in audit order.
    pub events: Vec<Event>,
    pub state_changes: Vec<StateChange>,
    pub interruptions: Vec<Interruption>,
    /// Protective orders set and lifted, in order.
    pub protective_orders: Vec<OrderChange>,
    /// The orders in force when the minutes were generated.
    pub orders_in_force: Vec<OrderInForce>,
    pub recordings: Vec<RecordingPeriod>,
    pub connection_incidents: Vec<Incident>,
    pub audit: AuditSpan,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HearingInfo {
    pub id: String,
    pub case_reference: String,
    pub court: String,
    pub title: String,
    pub scheduled_at: String,
    /// The procedural state when generated (`closed` for final minutes).
    pub state: String,
}

/// A participant: role and the name the minutes use (a pseudonym for a protected witness).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub role: String,
    pub name: String,
    /// Under a protective order at some time in this hearing: `name` is the pseudonym.
    pub protected: bool,
    /// Takes part with an account (judges, clerks) rather than an invitation.
    pub account: bool,
    pub added_at: String,
    pub removed_at: Option<String>,
    pub first_connected_at: Option<String>,
}

/// Who did something, or whom it concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    /// The participant id, when it is a participant of this hearing.
    pub participant: Option<String>,
    /// Their hearing role, when a participant; `system`, `operator` or `account` otherwise.
    pub role: String,
    pub name: String,
}

/// One audit entry as the minutes tell it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// The audit entry's sequence number: `assize audit` proves it is in the log.
    pub seq: i64,
    pub time: String,
    /// The audit action (`hearing.pause`, `participant.call`…).
    pub action: String,
    pub by: Who,
    /// The participant it concerned, if any.
    pub participant: Option<Who>,
    /// Selected facts without personal data (states, measures, numbers), by name.
    pub facts: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateChange {
    pub seq: i64,
    pub time: String,
    pub from: String,
    pub to: String,
    pub by: Who,
}

/// A pause (until its resumption), an adjournment, or the recording failing or being
/// interrupted by a server stop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interruption {
    pub seq: i64,
    /// `pause`, `adjournment`, `recording_failed` or `recording_interrupted`.
    pub kind: String,
    pub from: String,
    /// When it ended (the resumption), if it did.
    pub until: Option<String>,
    pub by: Who,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderChange {
    pub seq: i64,
    pub time: String,
    /// `set` or `lift`.
    pub change: String,
    pub participant: Who,
    pub voice: Option<String>,
    pub face: Option<String>,
    pub raw_to: Vec<String>,
    /// Whether the court keeps the original voice (encrypted to its certificate).
    #[serde(default)]
    pub keep_original: bool,
    pub by: Who,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderInForce {
    pub participant: Who,
    pub voice: String,
    pub face: String,
    pub raw_to: Vec<String>,
    /// Whether the court keeps the original voice (encrypted to its certificate).
    #[serde(default)]
    pub keep_original: bool,
    pub since: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordingPeriod {
    pub id: String,
    pub started_at: String,
    pub stopped_at: Option<String>,
    /// `recording`, `sealed` or `interrupted`.
    pub status: String,
    pub started_by: Who,
    pub segments: usize,
    /// The last chain value of its segments (hex), as sealed.
    pub last_chain: Option<String>,
}

/// A participant's connection got worse or recovered (grade change), or ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incident {
    pub seq: i64,
    pub time: String,
    pub participant: Who,
    /// `good`, `poor`, `bad`, or `disconnected`.
    pub grade: String,
    pub loss_percent: Option<f64>,
    pub rtt_ms: Option<u64>,
}

/// Which audit entries the minutes were made from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditSpan {
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub entries: usize,
    /// More entries existed than the minutes read (see `MAX_MINUTES_ENTRIES`).
    pub truncated: bool,
}

/// Everything [`build`] reads.
#[derive(Debug)]
pub struct Sources<'a> {
    pub hearing: &'a HearingRecord,
    pub participants: &'a [ParticipantRecord],
    pub orders: &'a [ProtectiveOrderRecord],
    /// The hearing's audit entries, in order.
    pub entries: &'a [AuditRow],
    pub recordings: &'a [(RecordingRecord, Vec<SegmentRecord>)],
    pub status: Status,
    pub generated_at: OffsetDateTime,
    pub server: &'a str,
    pub truncated: bool,
}

/// RFC 3339 (UTC) of Unix milliseconds; the epoch for an impossible value.
pub fn time_of_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// RFC 3339 (UTC) of Unix seconds.
pub fn time_of_secs(secs: i64) -> String {
    time_of_ms(secs.saturating_mul(1000))
}

/// The names the minutes use: participants by id (pseudonyms for the protected), and the
/// participants behind accounts.
struct Names {
    by_participant: HashMap<String, Who>,
    by_user: HashMap<String, String>,
    protected: BTreeSet<String>,
}

impl Names {
    fn new(s: &Sources<'_>, details: &[(&AuditRow, Value)]) -> Self {
        // Everyone ever under an order in this hearing, with the latest pseudonym given.
        let mut pseudonyms: HashMap<String, String> = HashMap::new();
        for (row, d) in details {
            if row.action == "protective_order.set"
                && let (Some(p), Some(name)) = (d["participant"].as_str(), d["pseudonym"].as_str())
            {
                pseudonyms.insert(p.to_string(), name.to_string());
            }
        }
        for o in s.orders {
            pseudonyms.insert(o.participant_id.clone(), o.pseudonym.clone());
        }
        let mut by_participant = HashMap::new();
        let mut by_user = HashMap::new();
        for p in s.participants {
            let name = pseudonyms
                .get(&p.id)
                .cloned()
                .unwrap_or_else(|| p.label.clone());
            by_participant.insert(
                p.id.clone(),
                Who {
                    participant: Some(p.id.clone()),
                    role: role_name(p.role).to_string(),
                    name,
                },
            );
            if let Some(u) = &p.user_id {
                by_user.entry(u.clone()).or_insert_with(|| p.id.clone());
            }
        }
        Self {
            by_participant,
            by_user,
            protected: pseudonyms.into_keys().collect(),
        }
    }

    fn participant(&self, id: &str) -> Who {
        self.by_participant.get(id).cloned().unwrap_or_else(|| Who {
            participant: Some(id.to_string()),
            role: "unknown".into(),
            name: format!("participant {id}"),
        })
    }

    /// The audit actor (`user:<id>`, `participant:<id>`, `system`, `operator`…).
    fn actor(&self, actor: &str) -> Who {
        if let Some(u) = actor.strip_prefix("user:") {
            return match self.by_user.get(u) {
                Some(p) => self.participant(p),
                None => Who {
                    participant: None,
                    role: "account".into(),
                    name: format!("account {u}"),
                },
            };
        }
        if let Some(p) = actor.strip_prefix("participant:") {
            return self.participant(p);
        }
        Who {
            participant: None,
            role: actor.to_string(),
            name: actor.to_string(),
        }
    }
}

/// The facts of an action worth keeping, by name: never a label or free text typed by people
/// other than the court's own pseudonyms, states and measures.
const KEPT_FACTS: &[&str] = &[
    "from",
    "to",
    "voice",
    "face",
    "raw_to",
    "keep_original",
    "original",
    "consultation",
    "returned",
    "recording",
    "segments",
    "closed_segments",
    "problems",
    "error",
    "reason",
    "because",
    "grade",
    "loss_percent",
    "rtt_ms",
    "kbps",
    "sha256",
    "role",
];

/// Builds the minutes. Deterministic for the same sources.
pub fn build(s: &Sources<'_>) -> Minutes {
    let details: Vec<(&AuditRow, Value)> = s
        .entries
        .iter()
        .map(|row| {
            let body: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
            (row, body.get("details").cloned().unwrap_or(Value::Null))
        })
        .collect();
    let names = Names::new(s, &details);

    let mut events = Vec::new();
    let mut state_changes = Vec::new();
    let mut interruptions: Vec<Interruption> = Vec::new();
    let mut protective_orders = Vec::new();
    let mut connection_incidents = Vec::new();
    let mut first_connected: HashMap<String, String> = HashMap::new();

    for (row, d) in &details {
        let time = time_of_ms(row.at_ms);
        let by = names.actor(&row.actor);
        let participant = d["participant"].as_str().map(|p| names.participant(p));
        let mut facts = BTreeMap::new();
        for key in KEPT_FACTS {
            if let Some(v) = d.get(*key)
                && !v.is_null()
            {
                facts.insert((*key).to_string(), v.clone());
            }
        }
        match row.action.as_str() {
            "hearing.open" | "hearing.start" | "hearing.pause" | "hearing.resume"
            | "hearing.adjourn" | "hearing.close" => {
                let from = d["from"].as_str().unwrap_or_default().to_string();
                let to = d["to"].as_str().unwrap_or_default().to_string();
                // A pause or adjournment ends at the next move into session (or the close).
                if let Some(open) = interruptions
                    .iter_mut()
                    .rev()
                    .find(|i| matches!(i.kind.as_str(), "pause" | "adjournment"))
                    .filter(|i| i.until.is_none())
                    && from != "in_session"
                {
                    open.until = Some(time.clone());
                }
                match to.as_str() {
                    "paused" => interruptions.push(Interruption {
                        seq: row.seq,
                        kind: "pause".into(),
                        from: time.clone(),
                        until: None,
                        by: by.clone(),
                    }),
                    "adjourned" => interruptions.push(Interruption {
                        seq: row.seq,
                        kind: "adjournment".into(),
                        from: time.clone(),
                        until: None,
                        by: by.clone(),
                    }),
                    _ => {}
                }
                state_changes.push(StateChange {
                    seq: row.seq,
                    time: time.clone(),
                    from,
                    to,
                    by: by.clone(),
                });
            }
            "recording.failed" | "recording.interrupted" => interruptions.push(Interruption {
                seq: row.seq,
                kind: if row.action == "recording.failed" {
                    "recording_failed".into()
                } else {
                    "recording_interrupted".into()
                },
                from: time.clone(),
                until: None,
                by: by.clone(),
            }),
            "protective_order.set" | "protective_order.lift" => {
                if let Some(who) = &participant {
                    protective_orders.push(OrderChange {
                        seq: row.seq,
                        time: time.clone(),
                        change: if row.action == "protective_order.set" {
                            "set".into()
                        } else {
                            "lift".into()
                        },
                        participant: who.clone(),
                        voice: d["voice"].as_str().map(str::to_owned),
                        face: d["face"].as_str().map(str::to_owned),
                        raw_to: d["raw_to"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|r| r.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        keep_original: d["keep_original"].as_bool().unwrap_or(false),
                        by: by.clone(),
                    });
                }
            }
            "participant.connect" => {
                if let Some(p) = d["participant"].as_str() {
                    first_connected
                        .entry(p.to_string())
                        .or_insert_with(|| time.clone());
                }
            }
            "participant.connection" | "participant.disconnect" => {
                if let Some(who) = &participant {
                    connection_incidents.push(Incident {
                        seq: row.seq,
                        time: time.clone(),
                        participant: who.clone(),
                        grade: if row.action == "participant.disconnect" {
                            "disconnected".into()
                        } else {
                            d["grade"].as_str().unwrap_or("unknown").to_string()
                        },
                        loss_percent: d["loss_percent"].as_f64(),
                        rtt_ms: d["rtt_ms"].as_u64(),
                    });
                }
            }
            _ => {}
        }
        events.push(Event {
            seq: row.seq,
            time,
            action: row.action.clone(),
            by,
            participant,
            facts,
        });
    }

    let participants = s
        .participants
        .iter()
        .map(|p| {
            let who = names.participant(&p.id);
            Person {
                id: p.id.clone(),
                role: who.role,
                name: who.name,
                protected: names.protected.contains(&p.id),
                account: p.user_id.is_some(),
                added_at: time_of_secs(p.created_at),
                removed_at: p.removed_at.map(time_of_secs),
                first_connected_at: first_connected.get(&p.id).cloned(),
            }
        })
        .collect();
    let orders_in_force = s
        .orders
        .iter()
        .map(|o| OrderInForce {
            participant: names.participant(&o.participant_id),
            voice: o.voice.clone(),
            face: o.face.clone(),
            raw_to: o.raw_to.clone(),
            keep_original: o.keep_original,
            since: time_of_secs(o.set_at),
        })
        .collect();
    let recordings = s
        .recordings
        .iter()
        .map(|(r, segments)| RecordingPeriod {
            id: r.id.clone(),
            started_at: time_of_secs(r.started_at),
            stopped_at: r.stopped_at.map(time_of_secs),
            status: r.status.clone(),
            started_by: names.actor(&format!("user:{}", r.started_by)),
            segments: segments.len(),
            last_chain: segments.last().map(|s| s.chain.clone()),
        })
        .collect();
    Minutes {
        schema: SCHEMA.into(),
        status: s.status,
        generated_at: s.generated_at.format(&Rfc3339).unwrap_or_default(),
        server: s.server.to_string(),
        hearing: HearingInfo {
            id: s.hearing.id.clone(),
            case_reference: s.hearing.case_reference.clone(),
            court: s.hearing.court.clone(),
            title: s.hearing.title.clone(),
            scheduled_at: time_of_secs(s.hearing.scheduled_at),
            state: state_name(s.hearing.state).to_string(),
        },
        participants,
        events,
        state_changes,
        interruptions,
        protective_orders,
        orders_in_force,
        recordings,
        connection_incidents,
        audit: AuditSpan {
            first_seq: s.entries.first().map(|e| e.seq),
            last_seq: s.entries.last().map(|e| e.seq),
            entries: s.entries.len(),
            truncated: s.truncated,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfu::room::{HearingRole, HearingState};
    use serde_json::json;

    fn person(id: &str, user: Option<&str>, role: HearingRole, label: &str) -> ParticipantRecord {
        ParticipantRecord {
            id: id.into(),
            hearing_id: "h".into(),
            user_id: user.map(str::to_owned),
            role,
            label: label.into(),
            created_at: 1_900_000_000,
            removed_at: None,
        }
    }

    fn entry(seq: i64, actor: &str, action: &str, details: Value) -> AuditRow {
        let body = json!({ "seq": seq, "actor": actor, "action": action, "object": "hearing:h",
                           "details": details });
        AuditRow {
            seq,
            at_ms: 1_900_000_000_000 + seq * 1000,
            actor: actor.into(),
            action: action.into(),
            object: "hearing:h".into(),
            body: body.to_string(),
            leaf_hash: Vec::new(),
        }
    }

    #[test]
    fn a_witness_once_protected_appears_only_by_pseudonym_and_a_pause_ends_at_the_resumption() {
        let hearing = HearingRecord {
            id: "h".into(),
            case_reference: "CR".into(),
            court: "Court".into(),
            title: "T".into(),
            scheduled_at: 1_900_000_000,
            state: HearingState::InSession,
            created_by: "u1".into(),
            created_at: 0,
            updated_at: 0,
        };
        let participants = [
            person("p1", Some("u1"), HearingRole::Judge, "Judge Judy"),
            person("p2", None, HearingRole::Witness, "Real Name"),
        ];
        let entries = [
            entry(
                1,
                "user:u1",
                "protective_order.set",
                json!({"participant": "p2", "pseudonym": "W-1", "voice": "distorted",
                         "face": "none", "raw_to": []}),
            ),
            entry(
                2,
                "user:u1",
                "hearing.start",
                json!({"from": "open", "to": "in_session"}),
            ),
            entry(
                3,
                "user:u1",
                "participant.call",
                json!({"participant": "p2"}),
            ),
            entry(
                4,
                "user:u1",
                "hearing.pause",
                json!({"from": "in_session", "to": "paused"}),
            ),
            entry(
                5,
                "participant:p2",
                "participant.connect",
                json!({"participant": "p2"}),
            ),
            entry(
                6,
                "user:u1",
                "hearing.resume",
                json!({"from": "paused", "to": "in_session"}),
            ),
            entry(
                7,
                "user:u1",
                "protective_order.lift",
                json!({"participant": "p2"}),
            ),
            entry(
                8,
                "system",
                "participant.connection",
                json!({"participant": "p2", "grade": "bad", "loss_percent": 20.5}),
            ),
            entry(
                9,
                "user:u1",
                "some.future_action",
                json!({"label": "Real Name"}),
            ),
        ];
        let m = build(&Sources {
            hearing: &hearing,
            participants: &participants,
            orders: &[],
            entries: &entries,
            recordings: &[],
            status: Status::Draft,
            generated_at: OffsetDateTime::UNIX_EPOCH,
            server: "https://court.example",
            truncated: false,
        });
        let text = serde_json::to_string(&m).expect("json");
        assert!(!text.contains("Real Name"), "{text}");
        assert!(m.participants[1].protected);
        assert_eq!(m.participants[1].name, "W-1");
        assert_eq!(
            m.events[2].participant.as_ref().map(|w| w.name.as_str()),
            Some("W-1")
        );
        assert_eq!(m.events[2].by.name, "Judge Judy");
        assert_eq!(m.events[4].by.role, "witness");
        assert_eq!(m.interruptions.len(), 1);
        assert_eq!(
            m.interruptions[0].until.as_deref(),
            Some(m.events[5].time.as_str())
        );
        assert_eq!(m.protective_orders.len(), 2);
        assert_eq!(m.connection_incidents[0].grade, "bad");
        assert_eq!(m.connection_incidents[0].loss_percent, Some(20.5));
        assert_eq!(
            m.participants[1].first_connected_at.as_deref(),
            Some(m.events[4].time.as_str())
        );
        // An action the minutes do not know keeps its name, never its details.
        assert!(m.events[8].facts.is_empty());
        // Every rendering keeps the name out too.
        for lang in [super::super::Lang::En, super::super::Lang::Fr] {
            assert!(!super::super::render::html(lang, &m).contains("Real Name"));
            assert!(
                !super::super::render::lines(lang, &m)
                    .concat()
                    .contains("Real Name")
            );
        }
    }
}
