//! The minutes for people to read: a self-contained HTML page (inline style, no script, no
//! outside resource; every value escaped) and the plain lines the PDF is set from, in English
//! or French. Pure.

use std::fmt::Write as _;

use super::model::{Event, Minutes, Status, Who};

/// The language of the labels (the facts themselves are not translated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    /// `en` or `fr`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }
}

/// One label in both languages.
fn t(lang: Lang, en: &'static str, fr: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Fr => fr,
    }
}

fn role(lang: Lang, r: &str) -> String {
    let (en, fr) = match r {
        "judge" => ("judge", "juge"),
        "clerk" => ("clerk", "greffier"),
        "prosecutor" => ("prosecutor", "ministère public"),
        "defence_counsel" => ("defence counsel", "avocat de la défense"),
        "defendant" => ("defendant", "prévenu"),
        "witness" => ("witness", "témoin"),
        "expert" => ("expert", "expert"),
        "interpreter" => ("interpreter", "interprète"),
        "observer" => ("observer", "observateur"),
        "remote_official" => ("remote official", "autorité requise"),
        "system" => ("the server", "le serveur"),
        "operator" => ("the operator", "l'opérateur"),
        other => return other.to_string(),
    };
    t(lang, en, fr).to_string()
}

fn state(lang: Lang, s: &str) -> String {
    let (en, fr) = match s {
        "scheduled" => ("scheduled", "planifiée"),
        "open" => ("open (waiting room)", "ouverte (salle d'attente)"),
        "in_session" => ("in session", "en séance"),
        "paused" => ("paused", "suspendue"),
        "adjourned" => ("adjourned", "renvoyée"),
        "closed" => ("closed", "close"),
        other => return other.to_string(),
    };
    t(lang, en, fr).to_string()
}

/// `Name (role)`; the name is a pseudonym for a protected witness.
fn who(lang: Lang, w: &Who) -> String {
    if w.participant.is_none() && matches!(w.role.as_str(), "system" | "operator") {
        return role(lang, &w.role);
    }
    format!("{} ({})", w.name, role(lang, &w.role))
}

fn fact(e: &Event, key: &str) -> String {
    match e.facts.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// What happened, in one sentence without the time and author.
pub fn describe(lang: Lang, e: &Event) -> String {
    let subject = e
        .participant
        .as_ref()
        .map(|p| who(lang, p))
        .unwrap_or_default();
    match e.action.as_str() {
        "hearing.book" => t(lang, "hearing booked", "audience fixée").into(),
        "hearing.open" | "hearing.start" | "hearing.pause" | "hearing.resume"
        | "hearing.adjourn" | "hearing.close" => format!(
            "{}: {} → {}",
            t(lang, "hearing", "audience"),
            state(lang, &fact(e, "from")),
            state(lang, &fact(e, "to"))
        ),
        "participant.assign" => format!("{} {subject}", t(lang, "takes part:", "participe :")),
        "invitation.create" => format!("{} {subject}", t(lang, "invited:", "invité :")),
        "invitation.redeem" => format!(
            "{} {subject}",
            t(lang, "invitation accepted by", "invitation acceptée par")
        ),
        "invitation.revoke" => t(
            lang,
            "an invitation was withdrawn",
            "une invitation est retirée",
        )
        .into(),
        "participant.connect" => format!("{subject} {}", t(lang, "connected", "connecté")),
        "participant.reconnect" => format!(
            "{subject} {}",
            if fact(e, "back_to") == "consultation_room" {
                t(
                    lang,
                    "reconnected, back in their consultation room",
                    "reconnecté, de retour dans sa salle de consultation",
                )
            } else {
                t(
                    lang,
                    "reconnected, back in the hearing room",
                    "reconnecté, de retour dans la salle d'audience",
                )
            }
        ),
        "participant.disconnect" => format!(
            "{subject} {}",
            t(lang, "left (disconnected)", "parti (déconnecté)")
        ),
        "participant.admit" => format!(
            "{subject} {}",
            t(
                lang,
                "admitted to the hearing room",
                "admis dans la salle d'audience"
            )
        ),
        "participant.call" => format!("{subject} {}", t(lang, "called", "appelé")),
        "participant.send_back" => format!(
            "{subject} {}",
            t(
                lang,
                "excused (sent back to the waiting room)",
                "excusé (renvoyé en salle d'attente)"
            )
        ),
        "participant.remove" => format!(
            "{subject} {}",
            t(lang, "dismissed from the hearing", "retiré de l'audience")
        ),
        "participant.mic_lock" => format!(
            "{subject}: {}",
            t(lang, "microphone locked", "micro verrouillé")
        ),
        "participant.mic_release" => format!(
            "{subject}: {}",
            t(lang, "microphone released", "micro libéré")
        ),
        "participant.camera_on" => format!("{subject}: {}", t(lang, "camera on", "caméra allumée")),
        "participant.camera_off" => {
            format!("{subject}: {}", t(lang, "camera off", "caméra éteinte"))
        }
        "participant.connection" => format!(
            "{subject}: {} {} ({} {}%)",
            t(lang, "connection", "connexion"),
            fact(e, "grade"),
            t(lang, "loss", "perte"),
            fact(e, "loss_percent")
        ),
        "screen.set" => t(
            lang,
            "a screen was set between two participants",
            "un écran est posé entre deux participants",
        )
        .into(),
        "screen.lift" => t(lang, "a screen was lifted", "un écran est levé").into(),
        "protective_order.set" => format!(
            "{} {subject}: {} {}, {} {}",
            t(lang, "protective order for", "mesure de protection pour"),
            t(lang, "voice", "voix"),
            fact(e, "voice"),
            t(lang, "face", "visage"),
            fact(e, "face")
        ),
        "protective_order.lift" => format!(
            "{} {subject}",
            t(
                lang,
                "protective order lifted for",
                "mesure de protection levée pour"
            )
        ),
        "consultation.open" => format!(
            "{} {}",
            t(
                lang,
                "consultation room opened:",
                "salle de consultation ouverte :"
            ),
            fact(e, "consultation")
        ),
        "consultation.lock" => t(
            lang,
            "consultation room locked",
            "salle de consultation verrouillée",
        )
        .into(),
        "consultation.unlock" => t(
            lang,
            "consultation room unlocked",
            "salle de consultation déverrouillée",
        )
        .into(),
        "consultation.end" => t(lang, "consultation room ended", "fin de la consultation").into(),
        "recording.start" => t(lang, "recording started", "enregistrement démarré").into(),
        "recording.stop" => format!(
            "{} ({} {})",
            t(
                lang,
                "recording stopped and sealed",
                "enregistrement arrêté et scellé"
            ),
            fact(e, "segments"),
            t(lang, "segments", "segments")
        ),
        "recording.failed" => t(
            lang,
            "the recorder stopped writing",
            "l'enregistreur a cessé d'écrire",
        )
        .into(),
        "recording.interrupted" => t(
            lang,
            "recording interrupted by a server stop",
            "enregistrement interrompu par un arrêt du serveur",
        )
        .into(),
        "recording.export" => t(lang, "record exported", "dossier exporté").into(),
        "minutes.draft" => t(
            lang,
            "draft minutes issued",
            "projet de procès-verbal délivré",
        )
        .into(),
        other => other.to_string(),
    }
}

fn title(lang: Lang, m: &Minutes) -> String {
    match m.status {
        Status::Final => t(lang, "Minutes of the hearing", "Procès-verbal d'audience").into(),
        Status::Draft => t(
            lang,
            "DRAFT minutes of the hearing (not final)",
            "PROJET de procès-verbal d'audience (non définitif)",
        )
        .into(),
    }
}

/// The minutes as plain lines (the PDF's text), headings included.
pub fn lines(lang: Lang, m: &Minutes) -> Vec<String> {
    let mut out = vec![
        title(lang, m),
        String::new(),
        format!(
            "{}: {}",
            t(lang, "Case", "Affaire"),
            m.hearing.case_reference
        ),
        format!("{}: {}", t(lang, "Court", "Juridiction"), m.hearing.court),
        format!("{}: {}", t(lang, "Title", "Intitulé"), m.hearing.title),
        format!(
            "{}: {}",
            t(lang, "Scheduled", "Prévue le"),
            m.hearing.scheduled_at
        ),
        format!(
            "{}: {}",
            t(lang, "State", "État"),
            state(lang, &m.hearing.state)
        ),
        format!(
            "{}: {} ({})",
            t(lang, "Generated", "Établi le"),
            m.generated_at,
            m.server
        ),
        String::new(),
        t(lang, "Participants", "Participants").into(),
    ];
    for p in &m.participants {
        let mut line = format!("- {} ({})", p.name, role(lang, &p.role));
        if p.protected {
            line.push_str(t(
                lang,
                " [protected: pseudonym]",
                " [protégé : pseudonyme]",
            ));
        }
        if let Some(c) = &p.first_connected_at {
            let _ = write!(
                line,
                ", {} {c}",
                t(lang, "first connected", "première connexion")
            );
        }
        if let Some(r) = &p.removed_at {
            let _ = write!(line, ", {} {r}", t(lang, "removed", "retiré"));
        }
        out.push(line);
    }
    out.push(String::new());
    out.push(
        t(
            lang,
            "Protective orders in force",
            "Mesures de protection en vigueur",
        )
        .into(),
    );
    if m.orders_in_force.is_empty() {
        out.push(t(lang, "- none", "- aucune").into());
    }
    for o in &m.orders_in_force {
        out.push(format!(
            "- {}: {} {}, {} {}, {} {} ({} {})",
            who(lang, &o.participant),
            t(lang, "voice", "voix"),
            o.voice,
            t(lang, "face", "visage"),
            o.face,
            t(lang, "original to", "original à"),
            if o.raw_to.is_empty() {
                "-".to_string()
            } else {
                o.raw_to.join(", ")
            },
            t(lang, "since", "depuis"),
            o.since
        ));
        if o.keep_original {
            out.push(
                t(
                    lang,
                    "  the court keeps the original voice, encrypted to the court's certificate, \
                     for the roles named only",
                    "  la cour conserve la voix originale, chiffrée pour le certificat de la \
                     cour, pour les seuls rôles désignés",
                )
                .into(),
            );
        }
    }
    out.push(String::new());
    out.push(t(lang, "Interruptions", "Interruptions").into());
    if m.interruptions.is_empty() {
        out.push(t(lang, "- none", "- aucune").into());
    }
    for i in &m.interruptions {
        out.push(format!(
            "- {} {} → {} ({})",
            i.kind,
            i.from,
            i.until.as_deref().unwrap_or("-"),
            who(lang, &i.by)
        ));
    }
    out.push(String::new());
    out.push(t(lang, "Recordings", "Enregistrements").into());
    if m.recordings.is_empty() {
        out.push(t(lang, "- none", "- aucun").into());
    }
    for r in &m.recordings {
        out.push(format!(
            "- {} → {} ({}, {} segments, {})",
            r.started_at,
            r.stopped_at.as_deref().unwrap_or("-"),
            r.status,
            r.segments,
            who(lang, &r.started_by)
        ));
    }
    out.push(String::new());
    out.push(t(lang, "Connection incidents", "Incidents de connexion").into());
    if m.connection_incidents.is_empty() {
        out.push(t(lang, "- none", "- aucun").into());
    }
    for c in &m.connection_incidents {
        out.push(format!(
            "- {} {}: {}",
            c.time,
            who(lang, &c.participant),
            c.grade
        ));
    }
    out.push(String::new());
    out.push(t(lang, "Proceedings", "Déroulement").into());
    for e in &m.events {
        out.push(format!(
            "{} #{} {} — {}",
            e.time,
            e.seq,
            describe(lang, e),
            who(lang, &e.by)
        ));
    }
    out.push(String::new());
    out.push(format!(
        "{} {}–{} ({} {}){}. {}",
        t(lang, "Audit entries", "Entrées du journal d'audit"),
        m.audit.first_seq.map_or("-".into(), |s| s.to_string()),
        m.audit.last_seq.map_or("-".into(), |s| s.to_string()),
        m.audit.entries,
        t(lang, "entries", "entrées"),
        if m.audit.truncated {
            t(lang, ", cut short", ", tronqué")
        } else {
            ""
        },
        m.schema
    ));
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The minutes as one self-contained HTML page.
pub fn html(lang: Lang, m: &Minutes) -> String {
    let e = escape;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"generator\" content=\"assize {}\"><title>{} — {}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#111}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #999;padding:.2em .4em;\
         text-align:left;vertical-align:top}}.draft{{color:#a00;border:2px solid #a00;padding:.5em}}\
         </style></head><body>",
        lang.code(),
        e(&m.schema),
        e(&title(lang, m)),
        e(&m.hearing.case_reference)
    );
    if m.status == Status::Draft {
        let _ = writeln!(
            h,
            "<p class=\"draft\">{}</p>",
            t(
                lang,
                "DRAFT: made before the hearing closed; the final minutes are sealed at the close.",
                "PROJET : établi avant la clôture ; le procès-verbal définitif est scellé à la clôture."
            )
        );
    }
    let _ = write!(h, "<h1>{}</h1>\n<table>", e(&title(lang, m)));
    for (k, v) in [
        (t(lang, "Case", "Affaire"), m.hearing.case_reference.clone()),
        (t(lang, "Court", "Juridiction"), m.hearing.court.clone()),
        (t(lang, "Title", "Intitulé"), m.hearing.title.clone()),
        (
            t(lang, "Scheduled", "Prévue le"),
            m.hearing.scheduled_at.clone(),
        ),
        (t(lang, "State", "État"), state(lang, &m.hearing.state)),
        (
            t(lang, "Generated", "Établi le"),
            format!("{} ({})", m.generated_at, m.server),
        ),
    ] {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", e(k), e(&v));
    }
    h.push_str("</table>\n");

    let _ = write!(
        h,
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(lang, "Participants", "Participants"),
        t(lang, "Name", "Nom"),
        t(lang, "Role", "Qualité"),
        t(lang, "First connected", "Première connexion"),
        t(lang, "Removed", "Retiré")
    );
    for p in &m.participants {
        let name = if p.protected {
            format!("{} {}", p.name, t(lang, "(pseudonym)", "(pseudonyme)"))
        } else {
            p.name.clone()
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&name),
            e(&role(lang, &p.role)),
            e(p.first_connected_at.as_deref().unwrap_or("")),
            e(p.removed_at.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</table>\n");

    // The summaries, then the full proceedings, share the plain lines' wording.
    let all = lines(lang, m);
    let sections = [
        t(
            lang,
            "Protective orders in force",
            "Mesures de protection en vigueur",
        ),
        t(lang, "Interruptions", "Interruptions"),
        t(lang, "Recordings", "Enregistrements"),
        t(lang, "Connection incidents", "Incidents de connexion"),
    ];
    for heading in sections {
        let _ = write!(h, "<h2>{}</h2><ul>", e(heading));
        let items = all
            .iter()
            .skip_while(|l| l.as_str() != heading)
            .skip(1)
            .take_while(|l| !l.is_empty());
        for item in items {
            let _ = write!(h, "<li>{}</li>", e(item.trim_start_matches("- ")));
        }
        h.push_str("</ul>\n");
    }

    let _ = write!(
        h,
        "<h2>{}</h2><table><tr><th>{}</th><th>#</th><th>{}</th><th>{}</th></tr>",
        t(lang, "Proceedings", "Déroulement"),
        t(lang, "Time (UTC)", "Heure (UTC)"),
        t(lang, "What", "Quoi"),
        t(lang, "By", "Par")
    );
    for ev in &m.events {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&ev.time),
            ev.seq,
            e(&describe(lang, ev)),
            e(&who(lang, &ev.by))
        );
    }
    h.push_str("</table>\n");
    if let Some(last) = all.last() {
        let _ = writeln!(h, "<p><small>{}</small></p>", e(last));
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
