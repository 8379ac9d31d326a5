//! The structured documents: the European Investigation Order of Directive 2014/41/EU (Annex A,
//! sections A–L), its acknowledgement of receipt (Annex B), and a generic MLA request.
//!
//! Drafts may be incomplete, so every field is optional on the wire; [`EioForm::missing`] and
//! [`MlaForm::missing`] list what a complete request still lacks, by field path
//! (`section_c.measures[0].description`), and the workflow refuses to validate a request until
//! that list is empty. Unknown fields are refused, so a misspelt field is never silently dropped.

use serde::{Deserialize, Serialize};

/// Longest free-text field accepted (characters).
pub const MAX_TEXT: usize = 20_000;
/// Most entries in any list (measures, persons, offences).
pub const MAX_ITEMS: usize = 100;

/// One missing or invalid field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path of the field, e.g. `section_g.offences[0].maximum_penalty`.
    pub field: String,
    /// What to do about it.
    pub message: String,
}

fn problem(field: impl Into<String>, message: &str) -> Problem {
    Problem {
        field: field.into(),
        message: message.to_owned(),
    }
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn text(&mut self, field: &str, value: &Option<String>, what: &str) {
        match value.as_deref().map(str::trim) {
            None | Some("") => self
                .problems
                .push(problem(field, &format!("Fill in {what}."))),
            Some(_) => {}
        }
    }
}

/// Limits every text field and list of a form, so a hostile draft cannot grow without bound.
fn bounded(value: &serde_json::Value, path: &str, out: &mut Vec<Problem>) {
    match value {
        serde_json::Value::String(s) if s.chars().count() > MAX_TEXT => out.push(problem(
            path,
            &format!("Shorten this text to at most {MAX_TEXT} characters."),
        )),
        serde_json::Value::Array(items) => {
            if items.len() > MAX_ITEMS {
                out.push(problem(
                    path,
                    &format!("List at most {MAX_ITEMS} entries here."),
                ));
            }
            for (i, v) in items.iter().enumerate().take(MAX_ITEMS) {
                bounded(v, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                bounded(v, &p, out);
            }
        }
        _ => {}
    }
}

// --- EIO, Annex A -------------------------------------------------------------------------

/// Section A: the issuing and the executing State.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionA {
    /// ISO 3166-1 alpha-2.
    pub issuing_state: Option<String>,
    pub executing_state: Option<String>,
}

/// Section B: urgency.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionB {
    #[serde(default)]
    pub urgent: bool,
    /// Why it is urgent (required when urgent).
    pub reasons: Option<String>,
    /// The date by which execution is asked (YYYY-MM-DD), and why.
    pub deadline: Option<String>,
    pub deadline_reasons: Option<String>,
}

/// The investigative measures of section C.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    ObtainInformationOrEvidence,
    HearingOfWitness,
    HearingOfExpert,
    HearingOfSuspect,
    HearingByVideoconference,
    HearingByTelephone,
    IdentificationOfPersons,
    SearchAndSeizure,
    BankingInformation,
    TemporaryTransfer,
    CovertInvestigation,
    InterceptionOfTelecommunications,
    ProvisionalMeasures,
    Other,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub kind: Option<MeasureKind>,
    pub description: Option<String>,
}

/// Section C: the investigative measures to be carried out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionC {
    #[serde(default)]
    pub measures: Vec<Measure>,
}

/// Section D: relation to an earlier EIO.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionD {
    pub earlier_eio_reference: Option<String>,
    pub earlier_eio_date: Option<String>,
}

/// A person concerned by the measures (section E).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// `natural` or `legal`.
    pub person_type: Option<String>,
    pub name: Option<String>,
    pub date_of_birth: Option<String>,
    pub nationality: Option<String>,
    pub address: Option<String>,
    /// `suspect`, `accused`, `victim`, `witness`, `expert`, `third_party`, `other`.
    pub status: Option<String>,
    pub languages: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionE {
    #[serde(default)]
    pub persons: Vec<Person>,
}

/// Section F: the type of proceedings (Art. 4).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionF {
    /// `criminal`, `administrative`, `judicial_non_criminal`, `legal_person`.
    pub proceedings: Option<String>,
}

/// An offence (section G).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offence {
    pub legal_classification: Option<String>,
    /// The category in Annex D (1–32), where the offence is one.
    pub annex_d_category: Option<u8>,
    /// The maximum penalty under the issuing State's law.
    pub maximum_penalty: Option<String>,
}

/// Section G: grounds for issuing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionG {
    /// The facts: circumstances, time, place, degree of participation.
    pub facts: Option<String>,
    #[serde(default)]
    pub offences: Vec<Offence>,
}

/// The videoconference part of section H (H1 of Annex A: hearing by videoconference).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Videoconference {
    pub person_to_be_heard: Option<String>,
    /// `witness`, `expert`, `suspect_or_accused`.
    pub capacity: Option<String>,
    /// Whether a suspect or accused person consents (required for them).
    pub consent: Option<bool>,
    pub proposed_date: Option<String>,
    pub technical_arrangements: Option<String>,
}

/// Section H: requirements of particular measures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionH {
    pub videoconference: Option<Videoconference>,
    pub banking_details: Option<String>,
    pub transfer_details: Option<String>,
    pub interception_details: Option<String>,
}

/// Section I: formalities and procedures to follow (Art. 9(2)).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionI {
    pub formalities: Option<String>,
}

/// Section J: legal remedies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionJ {
    pub remedies_sought: Option<String>,
}

/// Sections K and L: an authority's particulars.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityDetails {
    /// `judge`, `court`, `investigating_judge`, `public_prosecutor`, `other`.
    pub authority_type: Option<String>,
    pub name: Option<String>,
    pub representative: Option<String>,
    pub position: Option<String>,
    pub file_reference: Option<String>,
    pub address: Option<String>,
    pub telephone: Option<String>,
    pub email: Option<String>,
    pub languages: Option<String>,
}

/// Annex A of Directive 2014/41/EU.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EioForm {
    #[serde(default)]
    pub section_a: SectionA,
    #[serde(default)]
    pub section_b: SectionB,
    #[serde(default)]
    pub section_c: SectionC,
    #[serde(default)]
    pub section_d: SectionD,
    #[serde(default)]
    pub section_e: SectionE,
    #[serde(default)]
    pub section_f: SectionF,
    #[serde(default)]
    pub section_g: SectionG,
    #[serde(default)]
    pub section_h: SectionH,
    #[serde(default)]
    pub section_i: SectionI,
    #[serde(default)]
    pub section_j: SectionJ,
    /// The issuing authority.
    #[serde(default)]
    pub section_k: AuthorityDetails,
    /// The validating authority (needed when the issuing one is not a judge, court,
    /// investigating judge or prosecutor).
    pub section_l: Option<AuthorityDetails>,
}

fn is_country(s: &Option<String>) -> bool {
    matches!(s, Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
}

impl EioForm {
    /// What a complete, valid order still lacks. Empty: ready for validation.
    pub fn missing(&self) -> Vec<Problem> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        if let Ok(v) = serde_json::to_value(self) {
            bounded(&v, "", &mut c.problems);
        }
        let a = &self.section_a;
        if !is_country(&a.issuing_state) {
            c.problems.push(problem(
                "section_a.issuing_state",
                "Give the issuing State as two capital letters (ISO 3166-1), e.g. FR.",
            ));
        }
        if !is_country(&a.executing_state) {
            c.problems.push(problem(
                "section_a.executing_state",
                "Give the executing State as two capital letters (ISO 3166-1), e.g. DE.",
            ));
        }
        if self.section_b.urgent {
            c.text(
                "section_b.reasons",
                &self.section_b.reasons,
                "the reasons for urgency",
            );
        }
        if self.section_c.measures.is_empty() {
            c.problems.push(problem(
                "section_c.measures",
                "List at least one investigative measure.",
            ));
        }
        for (i, m) in self.section_c.measures.iter().enumerate() {
            if m.kind.is_none() {
                c.problems.push(problem(
                    format!("section_c.measures[{i}].kind"),
                    "Choose the kind of measure.",
                ));
            }
            c.text(
                &format!("section_c.measures[{i}].description"),
                &m.description,
                "what the measure is to obtain",
            );
        }
        for (i, p) in self.section_e.persons.iter().enumerate() {
            c.text(
                &format!("section_e.persons[{i}].name"),
                &p.name,
                "the person's name (or 'unknown')",
            );
            c.text(
                &format!("section_e.persons[{i}].status"),
                &p.status,
                "the person's status in the proceedings",
            );
        }
        match self.section_f.proceedings.as_deref() {
            Some("criminal" | "administrative" | "judicial_non_criminal" | "legal_person") => {}
            _ => c.problems.push(problem(
                "section_f.proceedings",
                "Choose the type of proceedings: criminal, administrative, judicial_non_criminal or legal_person.",
            )),
        }
        c.text("section_g.facts", &self.section_g.facts, "the facts");
        if self.section_g.offences.is_empty() {
            c.problems
                .push(problem("section_g.offences", "List at least one offence."));
        }
        for (i, o) in self.section_g.offences.iter().enumerate() {
            c.text(
                &format!("section_g.offences[{i}].legal_classification"),
                &o.legal_classification,
                "the legal classification of the offence",
            );
            c.text(
                &format!("section_g.offences[{i}].maximum_penalty"),
                &o.maximum_penalty,
                "the maximum penalty",
            );
            if let Some(cat) = o.annex_d_category
                && !(1..=32).contains(&cat)
            {
                c.problems.push(problem(
                    format!("section_g.offences[{i}].annex_d_category"),
                    "Annex D lists categories 1 to 32; leave it empty if none applies.",
                ));
            }
        }
        let needs_video = self.section_c.measures.iter().any(|m| {
            m.kind == Some(MeasureKind::HearingByVideoconference)
                || m.kind == Some(MeasureKind::HearingByTelephone)
        });
        if needs_video {
            match &self.section_h.videoconference {
                None => c.problems.push(problem(
                    "section_h.videoconference",
                    "A hearing by videoconference needs the details of section H (who is heard, in what capacity).",
                )),
                Some(v) => {
                    c.text(
                        "section_h.videoconference.person_to_be_heard",
                        &v.person_to_be_heard,
                        "who is to be heard",
                    );
                    match v.capacity.as_deref() {
                        Some("witness" | "expert") => {}
                        Some("suspect_or_accused") => {
                            if v.consent != Some(true) {
                                c.problems.push(problem(
                                    "section_h.videoconference.consent",
                                    "A suspect or accused person is heard by videoconference only with their consent (Art. 24(2)(a)): record it.",
                                ));
                            }
                        }
                        _ => c.problems.push(problem(
                            "section_h.videoconference.capacity",
                            "Choose the capacity: witness, expert or suspect_or_accused.",
                        )),
                    }
                }
            }
        }
        let k = &self.section_k;
        c.text("section_k.name", &k.name, "the issuing authority's name");
        c.text(
            "section_k.file_reference",
            &k.file_reference,
            "the issuing authority's file reference",
        );
        c.text(
            "section_k.representative",
            &k.representative,
            "the name of the authority's representative",
        );
        if k.address.as_deref().is_none_or(|s| s.trim().is_empty())
            && k.email.as_deref().is_none_or(|s| s.trim().is_empty())
        {
            c.problems.push(problem(
                "section_k.address",
                "Give the issuing authority's address or e-mail.",
            ));
        }
        let judicial = matches!(
            k.authority_type.as_deref(),
            Some("judge" | "court" | "investigating_judge" | "public_prosecutor")
        );
        if k.authority_type.is_none() {
            c.problems.push(problem(
                "section_k.authority_type",
                "Choose the type of issuing authority.",
            ));
        }
        if !judicial && k.authority_type.is_some() {
            match &self.section_l {
                None => c.problems.push(problem(
                    "section_l",
                    "An issuing authority that is not a judge, court or prosecutor needs a validating judicial authority (section L, Art. 2(c)(ii)).",
                )),
                Some(l) => c.text("section_l.name", &l.name, "the validating authority's name"),
            }
        }
        c.problems
    }
}

/// Annex B: confirmation of receipt of an EIO, filled in by the executing authority.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnexB {
    /// The issuing authority's file reference and the date the EIO was issued.
    pub issuing_reference: String,
    pub issued_on: String,
    /// When it was received (RFC 3339).
    pub received_at: String,
    /// Section B: the authority that received the order.
    pub receiving_authority: String,
    pub receiving_country: String,
    /// Section C: the competent executing authority, when it is not the one that received it.
    pub executing_authority: Option<String>,
    /// The executing side's file reference.
    pub executing_reference: String,
}

// --- generic MLA --------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlaOffence {
    pub legal_classification: Option<String>,
    pub maximum_penalty: Option<String>,
}

/// A request for mutual legal assistance outside the EIO (a convention, a treaty, reciprocity).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlaForm {
    pub requesting_state: Option<String>,
    pub requested_state: Option<String>,
    /// The convention or treaty relied on.
    pub legal_basis: Option<String>,
    /// The requesting authority, its contact and file reference.
    #[serde(default)]
    pub requesting_authority: AuthorityDetails,
    pub facts: Option<String>,
    #[serde(default)]
    pub offences: Vec<MlaOffence>,
    #[serde(default)]
    pub persons: Vec<Person>,
    /// What is asked of the requested State.
    pub assistance_requested: Option<String>,
    /// Procedures or formalities to follow.
    pub procedures: Option<String>,
    /// Confidentiality and limits on the use of what is obtained.
    pub confidentiality: Option<String>,
    pub limits_on_use: Option<String>,
    /// The date by which the assistance is asked (YYYY-MM-DD).
    pub requested_date: Option<String>,
    #[serde(default)]
    pub urgent: bool,
    pub urgency_reasons: Option<String>,
}

impl MlaForm {
    /// What a complete request still lacks.
    pub fn missing(&self) -> Vec<Problem> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        if let Ok(v) = serde_json::to_value(self) {
            bounded(&v, "", &mut c.problems);
        }
        if !is_country(&self.requesting_state) {
            c.problems.push(problem(
                "requesting_state",
                "Give the requesting State as two capital letters (ISO 3166-1).",
            ));
        }
        if !is_country(&self.requested_state) {
            c.problems.push(problem(
                "requested_state",
                "Give the requested State as two capital letters (ISO 3166-1).",
            ));
        }
        c.text(
            "legal_basis",
            &self.legal_basis,
            "the legal basis (convention or treaty)",
        );
        c.text(
            "requesting_authority.name",
            &self.requesting_authority.name,
            "the requesting authority's name",
        );
        c.text(
            "requesting_authority.file_reference",
            &self.requesting_authority.file_reference,
            "the requesting authority's file reference",
        );
        c.text("facts", &self.facts, "the facts");
        if self.offences.is_empty() {
            c.problems
                .push(problem("offences", "List at least one offence."));
        }
        for (i, o) in self.offences.iter().enumerate() {
            c.text(
                &format!("offences[{i}].legal_classification"),
                &o.legal_classification,
                "the legal classification",
            );
            c.text(
                &format!("offences[{i}].maximum_penalty"),
                &o.maximum_penalty,
                "the maximum penalty",
            );
        }
        c.text(
            "assistance_requested",
            &self.assistance_requested,
            "the assistance requested",
        );
        c.text(
            "confidentiality",
            &self.confidentiality,
            "the confidentiality required (or 'none')",
        );
        c.text(
            "limits_on_use",
            &self.limits_on_use,
            "the limits on the use of what is obtained (or 'none')",
        );
        if parse_date(self.requested_date.as_deref()).is_none() {
            c.problems.push(problem(
                "requested_date",
                "Give the date by which assistance is asked, as YYYY-MM-DD.",
            ));
        }
        if self.urgent {
            c.text(
                "urgency_reasons",
                &self.urgency_reasons,
                "the reasons for urgency",
            );
        }
        c.problems
    }
}

/// Midnight UTC of a `YYYY-MM-DD` date, as Unix seconds.
pub fn parse_date(s: Option<&str>) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s?, &fmt).ok()?;
    Some(d.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn complete_eio() -> serde_json::Value {
        json!({
            "section_a": {"issuing_state": "FR", "executing_state": "DE"},
            "section_b": {"urgent": false},
            "section_c": {"measures": [
                {"kind": "hearing_by_videoconference", "description": "Hear the witness W."}]},
            "section_e": {"persons": [{"name": "W.", "status": "witness"}]},
            "section_f": {"proceedings": "criminal"},
            "section_g": {"facts": "On 1 May…", "offences": [
                {"legal_classification": "Fraud", "annex_d_category": 8, "maximum_penalty": "5 years"}]},
            "section_h": {"videoconference": {"person_to_be_heard": "W.", "capacity": "witness"}},
            "section_k": {"authority_type": "investigating_judge", "name": "TJ Paris",
                          "representative": "J. Dupont", "file_reference": "P-1", "email": "a@example.org"}
        })
    }

    #[test]
    fn a_complete_order_lacks_nothing() {
        let f: EioForm = serde_json::from_value(complete_eio()).unwrap();
        assert_eq!(f.missing(), vec![]);
    }

    #[test]
    fn each_missing_field_is_named() {
        let f = EioForm::default();
        let fields: Vec<String> = f.missing().into_iter().map(|p| p.field).collect();
        for want in [
            "section_a.issuing_state",
            "section_c.measures",
            "section_f.proceedings",
            "section_g.facts",
            "section_g.offences",
            "section_k.name",
        ] {
            assert!(fields.iter().any(|f| f == want), "{want} not in {fields:?}");
        }
        let mut v = complete_eio();
        v["section_g"]["offences"][0]["maximum_penalty"] = json!(null);
        v["section_h"]["videoconference"]["capacity"] = json!("suspect_or_accused");
        v["section_g"]["offences"][0]["annex_d_category"] = json!(40);
        let f: EioForm = serde_json::from_value(v).unwrap();
        let fields: Vec<String> = f.missing().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec![
                "section_g.offences[0].maximum_penalty",
                "section_g.offences[0].annex_d_category",
                "section_h.videoconference.consent"
            ]
        );
    }

    #[test]
    fn unknown_fields_and_oversized_text_are_refused() {
        let mut v = complete_eio();
        v["section_g"]["motive"] = json!("x");
        assert!(serde_json::from_value::<EioForm>(v).is_err());
        let mut v = complete_eio();
        v["section_g"]["facts"] = json!("x".repeat(MAX_TEXT + 1));
        let f: EioForm = serde_json::from_value(v).unwrap();
        assert_eq!(f.missing()[0].field, "section_g.facts");
    }

    #[test]
    fn a_generic_request_needs_its_date_and_basis() {
        let f = MlaForm::default();
        let fields: Vec<String> = f.missing().into_iter().map(|p| p.field).collect();
        assert!(fields.contains(&"legal_basis".to_string()));
        assert!(fields.contains(&"requested_date".to_string()));
        assert_eq!(parse_date(Some("2027-01-31")), Some(1_801_353_600));
        assert_eq!(parse_date(Some("2027-02-31")), None);
    }
}
