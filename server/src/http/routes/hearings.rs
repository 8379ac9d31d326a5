//! Remote hearings over HTTP: booking, participants and invitations, the procedural state
//! (through **the** transition table in [`crate::hearings`]), the judge's controls over the SFU
//! room, and [`PolicyAdmission`], which decides who may open the signaling socket.
//!
//! Every hearing-scoped handler asks the policy twice, in [`hearing_permit`]: the account-level
//! table first (so a stranger learns nothing about hearings), then the caller's standing in this
//! hearing ([`policy::authorize_in_hearing`]). Every change is an audit entry that names
//! hearings and participants by id only, never by label: a label may name a protected witness.
//!
//! ## Invitations (people without an account)
//! An invitation is a random 256-bit token bound to one hearing and one participant (hence one
//! role), stored only as SHA-256, single-use and expiring. Redeeming it
//! (`POST /api/v1/hearing-invitations/redeem`) spends it and sets a separate hearing-session
//! cookie (`__Host-assize_hearing`, `Secure; HttpOnly; SameSite=Strict`), also stored only as a
//! hash, which the policy sees as [`Subject::HearingParticipant`]: it can join that one hearing
//! and nothing else. Revoking the invitation or removing the participant ends that session.

use axum::Json;
use axum::extract::{FromRequestParts as _, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{Actor, AuditEvent};
use crate::auth;
use crate::hearings::{accepts_connections, role_name, state_name, transition};
use crate::http::extract::{ApiJson, Caller, HEARING_COOKIE};
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::{self, Action, Permit, Role, Subject};
use crate::sfu::room::{
    ConsultationRoomId, FaceProtection, HearingRole, HearingState, Location, Mic, ParticipantId,
    Protection, RoomError, RoomState,
};
use crate::sfu::signal::{Admission, JoinTicket, parse_role};
use crate::store::{
    HearingRecord, NewHearing, ParticipantRecord, ProtectiveOrderRecord, StoreError, now,
};

/// Longest accepted free-text field (case reference, court, title, label).
const MAX_TEXT: usize = 200;
/// Invitation lifetime when the request names none, and the longest allowed.
const DEFAULT_INVITATION_HOURS: u32 = 72;
const MAX_INVITATION_HOURS: u32 = 30 * 24;

// --- asking the policy -------------------------------------------------------------------

/// The caller's part in `hearing_id`, if any (removed participants have none).
async fn standing(
    state: &AppState,
    caller: &Caller,
    hearing_id: &str,
) -> ApiResult<Option<ParticipantRecord>> {
    let me = match &caller.subject {
        Subject::User { user_id, .. } => {
            state
                .store
                .participant_by_account(hearing_id, user_id)
                .await?
        }
        Subject::HearingParticipant { hearing_id: h, .. } if h == hearing_id => caller
            .hearing_session
            .as_ref()
            .map(|s| s.participant.clone()),
        _ => None,
    };
    Ok(me.filter(|p| p.removed_at.is_none()))
}

/// Both halves of the policy for a hearing-scoped `action`: the account-level table, the
/// hearing's existence, then the caller's standing in it.
pub(crate) async fn hearing_permit(
    state: &AppState,
    caller: &Caller,
    hearing_id: &str,
    action: Action,
) -> ApiResult<(Permit, HearingRecord, Option<ParticipantRecord>)> {
    let _account_level = caller.authorize(action)?;
    let hearing = state
        .store
        .hearing(hearing_id)
        .await?
        .ok_or_else(|| ApiError::not_found("hearing"))?;
    let me = standing(state, caller, hearing_id).await?;
    let permit = policy::authorize_in_hearing(&caller.subject, me.as_ref().map(|p| p.role), action)
        .map_err(|_| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "You do not take part in this hearing in a role that may do this. Ask the \
                 hearing's clerk or judge.",
            )
        })?;
    Ok((permit, hearing, me))
}

pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    hearing_id: &str,
    details: Value,
) -> ApiResult<()> {
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::from(&caller.subject),
                action,
                format!("hearing:{hearing_id}"),
            )
            .with(details),
        )
        .await?;
    Ok(())
}

fn text_field(value: &str, field: &'static str) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_TEXT || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("{field} must be 1 to {MAX_TEXT} characters of plain text."),
        )
        .with_details(json!({ "field": field })));
    }
    Ok(v.to_string())
}

fn states_json(states: &[HearingState]) -> Value {
    json!(states.iter().map(|s| state_name(*s)).collect::<Vec<_>>())
}

fn hearing_json(h: &HearingRecord) -> Value {
    let mut v = json!(h);
    v["legal_next_states"] = states_json(crate::hearings::legal_next(h.state));
    v
}

// --- booking -----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookHearing {
    case_reference: String,
    court: String,
    title: String,
    /// Unix seconds (UTC).
    scheduled_at: i64,
}

/// `POST /api/v1/hearings`: a judge or clerk books a hearing and takes part in it.
pub async fn book(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BookHearing>,
) -> ApiResult<impl IntoResponse> {
    let _permit = caller.authorize(Action::BookHearing)?;
    let user = caller.user()?;
    let case_reference = text_field(&body.case_reference, "case_reference")?;
    let court = text_field(&body.court, "court")?;
    let title = text_field(&body.title, "title")?;
    if !(0..=253_402_300_799).contains(&body.scheduled_at) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "scheduled_at must be a time in Unix seconds (UTC).",
        )
        .with_details(json!({ "field": "scheduled_at" })));
    }
    let role = if user.roles.contains(&Role::Judge) {
        HearingRole::Judge
    } else {
        HearingRole::Clerk
    };
    let hearing = state
        .store
        .create_hearing(
            &NewHearing {
                case_reference: &case_reference,
                court: &court,
                title: &title,
                scheduled_at: body.scheduled_at,
            },
            &user.id,
            role,
            &user.display_name,
        )
        .await?;
    audit(
        &state,
        &caller,
        "hearing.book",
        &hearing.id,
        json!({ "case_reference": hearing.case_reference, "court": hearing.court,
                "scheduled_at": hearing.scheduled_at, "booker_role": role_name(role) }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(hearing_json(&hearing))))
}

/// `GET /api/v1/hearings`
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let _permit = caller.authorize(Action::ViewHearings)?;
    let hearings: Vec<Value> = state
        .store
        .list_hearings()
        .await?
        .iter()
        .map(hearing_json)
        .collect();
    Ok(Json(json!({ "hearings": hearings })))
}

/// `GET /api/v1/hearings/{id}`: the hearing, its participants and where each is in the room.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let _permit = caller.authorize(Action::ViewHearings)?;
    let hearing = state
        .store
        .hearing(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("hearing"))?;
    let live = state.sfu.hearings().get(&id);
    let room = live.as_ref().map(|h| h.room());
    let participants: Vec<Value> = state
        .store
        .participants(&id)
        .await?
        .iter()
        .map(|p| {
            let mut v = json!(p);
            // The number the signaling protocol names publishers by (stream id `p<number>`),
            // so that a client can put a name and role on each video it receives.
            let number = live.as_ref().and_then(|h| h.participant_of(&p.id));
            let seat = number
                .zip(room.as_ref())
                .and_then(|(n, r)| r.participant(n));
            v["number"] = json!(number.map(|n| n.0));
            v["location"] = json!(seat.map_or("not_connected", |s| location_name(s.location)));
            v["consultation"] = json!(seat.and_then(|s| match s.location {
                Location::Consultation(c) => Some(c.0),
                _ => None,
            }));
            v["microphone"] = json!(seat.map(|s| match s.mic {
                Mic::Live => "live",
                Mic::Muted => "muted",
                Mic::Locked => "locked",
            }));
            v["camera_on"] = json!(seat.map(|s| s.camera_on));
            // The heartbeat: loss, round-trip time and bitrate over the last 2 s, graded.
            v["connection"] = json!(
                live.as_ref()
                    .and_then(|h| h.quality_of(h.participant_of(&p.id)?))
            );
            v
        })
        .collect();
    let mut v = hearing_json(&hearing);
    v["participants"] = json!(participants);
    v["consultations"] = json!(
        live.as_ref()
            .zip(room.as_ref())
            .map(|(h, r)| consultations_json(h, r))
            .unwrap_or_default()
    );
    // The screens up now: `subscriber` does not see `publisher`'s video (participant ids).
    v["screens"] = json!(
        live.as_ref()
            .zip(room.as_ref())
            .map(|(h, r)| {
                r.screens()
                    .filter_map(|(s, p)| {
                        Some(json!({ "subscriber": h.party_of(s)?,
                                                      "publisher": h.party_of(p)? }))
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    );
    Ok(Json(v))
}

/// The open consultation rooms of a live room, each with its members (participant ids) and
/// whether it is locked, for the judge's console.
fn consultations_json(live: &crate::sfu::Hearing, room: &RoomState) -> Vec<Value> {
    let mut rooms: std::collections::BTreeMap<u16, Vec<ParticipantId>> = Default::default();
    for (sid, p) in room.participants() {
        if let Location::Consultation(c) = p.location {
            rooms.entry(c.0).or_default().push(sid);
        }
    }
    rooms
        .into_iter()
        .map(|(n, members)| {
            json!({ "consultation": n,
                    "participants": members.iter().filter_map(|m| live.party_of(*m))
                        .collect::<Vec<_>>(),
                    "locked": room.is_consultation_locked(ConsultationRoomId(n)) })
        })
        .collect()
}

/// `GET /api/v1/hearings/{id}/me`: the caller's own situation in the hearing, for the page of
/// any participant, invitees included: their role, number and place; their own protective
/// order (what is hidden, and which roles still receive the original) and the pseudonym the
/// others see; whether the hearing is being recorded; and the others as the room may show them.
///
/// # Security
/// An invitee learns only about those it shares a room with that carries media (the hearing
/// room, or its own consultation room): someone in the waiting room learns nobody, as it
/// receives nobody's media (rule 3 of the room). The bench (judges and clerks, who read the
/// whole participant list anyway) sees every connected participant. A protected witness appears
/// to everyone but the bench under their pseudonym only: the label the court gave them never
/// reaches another participant.
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_permit, hearing, me) =
        hearing_permit(&state, &caller, &id, Action::ViewOwnParticipation).await?;
    let me = me.ok_or_else(|| ApiError::from(policy::Denial::Forbidden))?;
    let live = state.sfu.hearings().get(&id);
    let room = live.as_ref().map(|h| h.room());
    let seat = |participant: &str| {
        let number = live.as_ref()?.participant_of(participant)?;
        let seat = room.as_ref()?.participant(number)?;
        Some((number, seat.location))
    };
    let mine = seat(&me.id);
    // Judges and clerks know who a protected witness is; everyone else knows the pseudonym.
    let bench = me.role.is_bench();
    let shown = |location: Location| match location {
        Location::Disconnected => false,
        _ if bench => true,
        Location::HearingRoom | Location::Consultation(_) => {
            mine.is_some_and(|(_, l)| l == location)
        }
        Location::WaitingRoom => false,
    };
    let mut others = Vec::new();
    for p in state.store.participants(&id).await? {
        if p.id == me.id || p.removed_at.is_some() {
            continue;
        }
        let Some((number, location)) = seat(&p.id) else {
            continue;
        };
        if !shown(location) {
            continue;
        }
        let order = if p.role == HearingRole::Witness {
            state.store.protective_order(&p.id).await?
        } else {
            None
        };
        let mut v = json!({
            "number": number.0,
            "role": role_name(p.role),
            "name": match (&order, bench) {
                (Some(o), false) => o.pseudonym.clone(),
                _ => p.label.clone(),
            },
            "protected": order.is_some(),
        });
        if let (Some(o), true) = (&order, bench) {
            v["pseudonym"] = json!(o.pseudonym);
        }
        others.push(v);
    }
    let order = state.store.protective_order(&me.id).await?;
    let (number, location) = mine.map_or((None, None), |(n, l)| (Some(n.0), Some(l)));
    Ok(Json(json!({
        "hearing": { "id": hearing.id, "state": state_name(hearing.state),
                     "court": hearing.court, "title": hearing.title },
        "participant_id": me.id,
        "role": role_name(me.role),
        "label": me.label,
        "number": number,
        "location": location.map_or("not_connected", location_name),
        "pseudonym": order.as_ref().map(|o| o.pseudonym.clone()),
        "protective_order": order.as_ref().map(|o| json!({
            "pseudonym": o.pseudonym, "voice": o.voice, "face": o.face, "raw_to": o.raw_to,
            "keep_original": o.keep_original,
        })),
        "recording": room.as_ref().is_some_and(RoomState::is_recording),
        "participants": others,
    })))
}

fn location_name(l: Location) -> &'static str {
    match l {
        Location::WaitingRoom => "waiting_room",
        Location::HearingRoom => "hearing_room",
        Location::Consultation(_) => "consultation_room",
        Location::Disconnected => "disconnected",
    }
}

// --- participants and invitations ----------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignAccount {
    user_id: String,
    role: String,
}

/// `POST /api/v1/hearings/{id}/participants`: a judge's or clerk's account takes part.
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignAccount>,
) -> ApiResult<impl IntoResponse> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ManageHearingParticipants).await?;
    let (role, needs) = match parse_role(&body.role) {
        Some(HearingRole::Judge) => (HearingRole::Judge, Role::Judge),
        Some(HearingRole::Clerk) => (HearingRole::Clerk, Role::Clerk),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_role",
                "Accounts take part as judge or clerk; invite everyone else \
                 (POST /api/v1/hearings/{id}/invitations).",
            )
            .with_details(json!({ "field": "role" })));
        }
    };
    let account = state
        .store
        .user_by_id(&body.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| ApiError::not_found("account"))?;
    if !account.roles.contains(&needs) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "role_mismatch",
            format!(
                "This account does not hold the {needs} role. Ask an administrator, or choose \
                 another account."
            ),
        ));
    }
    let p = state
        .store
        .add_participant(&id, Some(&account.id), role, &account.display_name)
        .await?;
    audit(
        &state,
        &caller,
        "participant.assign",
        &id,
        json!({ "participant": p.id, "user": account.id, "role": role_name(role) }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(p))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    role: String,
    /// How the court refers to the person in this hearing ("Witness A").
    label: String,
    #[serde(default)]
    expires_in_hours: Option<u32>,
}

/// `POST /api/v1/hearings/{id}/invitations`: returns the single-use link once.
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Invite>,
) -> ApiResult<impl IntoResponse> {
    let (_permit, hearing, _) =
        hearing_permit(&state, &caller, &id, Action::ManageHearingParticipants).await?;
    if hearing.state == HearingState::Closed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hearing_closed",
            "This hearing is closed; nobody can be invited to it any more.",
        ));
    }
    let role = match parse_role(&body.role) {
        Some(HearingRole::Judge | HearingRole::Clerk) | None => {
            return Err(ApiError::bad_request(
                "invalid_role",
                "Invite as prosecutor, defence_counsel, defendant, witness, expert, interpreter, \
                 observer or remote_official; judges and clerks take part with their accounts.",
            )
            .with_details(json!({ "field": "role" })));
        }
        Some(r) => r,
    };
    let label = text_field(&body.label, "label")?;
    let hours = body.expires_in_hours.unwrap_or(DEFAULT_INVITATION_HOURS);
    if !(1..=MAX_INVITATION_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            format!("expires_in_hours must be between 1 and {MAX_INVITATION_HOURS}."),
        )
        .with_details(json!({ "field": "expires_in_hours" })));
    }
    let token = auth::random_token();
    let invitation = state
        .store
        .create_invitation(
            &id,
            role,
            &label,
            &auth::token_hash(&token),
            &caller.user()?.id,
            now() + i64::from(hours) * 3600,
        )
        .await?;
    audit(
        &state,
        &caller,
        "invitation.create",
        &id,
        json!({ "invitation": invitation.id, "participant": invitation.participant_id,
                "role": role_name(role), "expires_at": invitation.expires_at }),
    )
    .await?;
    // The token travels in the fragment, which browsers never send to a server or a log.
    let link = format!("{}/join#{token}", state.public_url);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "link": link, "invitation": invitation })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reissue {
    #[serde(default)]
    expires_in_hours: Option<u32>,
}

/// `POST /api/v1/hearings/{id}/invitations/{invitation}/reissue`: a new single-use link for the
/// same person (their link was lost, or expired). The old link stops working, and the session
/// it became ends; the participant stays the same, with their protective order and screens.
/// Returns the new link once.
pub async fn reissue(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invitation)): Path<(String, String)>,
    ApiJson(body): ApiJson<Reissue>,
) -> ApiResult<impl IntoResponse> {
    let (_permit, hearing, _) =
        hearing_permit(&state, &caller, &id, Action::ManageHearingParticipants).await?;
    if hearing.state == HearingState::Closed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hearing_closed",
            "This hearing is closed; nobody can be invited to it any more.",
        ));
    }
    let hours = body.expires_in_hours.unwrap_or(DEFAULT_INVITATION_HOURS);
    if !(1..=MAX_INVITATION_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            format!("expires_in_hours must be between 1 and {MAX_INVITATION_HOURS}."),
        )
        .with_details(json!({ "field": "expires_in_hours" })));
    }
    let token = auth::random_token();
    let new = state
        .store
        .reissue_invitation(
            &id,
            &invitation,
            &auth::token_hash(&token),
            &caller.user()?.id,
            now() + i64::from(hours) * 3600,
        )
        .await?;
    audit(
        &state,
        &caller,
        "invitation.reissue",
        &id,
        json!({ "revoked": invitation, "invitation": new.id, "participant": new.participant_id,
                "expires_at": new.expires_at }),
    )
    .await?;
    let link = format!("{}/join#{token}", state.public_url);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "link": link, "invitation": new })),
    ))
}

/// `GET /api/v1/hearings/{id}/invitations`
pub async fn invitations(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ManageHearingParticipants).await?;
    let list = state.store.invitations(&id).await?;
    Ok(Json(json!({ "invitations": list })))
}

/// `DELETE /api/v1/hearings/{id}/invitations/{invitation}`: also ends the session it became.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invitation)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ManageHearingParticipants).await?;
    state.store.revoke_invitation(&id, &invitation).await?;
    audit(
        &state,
        &caller,
        "invitation.revoke",
        &id,
        json!({ "invitation": invitation }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    token: String,
}

/// `POST /api/v1/hearing-invitations/redeem`: spends the invitation, sets the hearing-session
/// cookie.
pub async fn redeem(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Redeem>,
) -> ApiResult<Response> {
    // The invitation is the credential, whoever presents it: like signing in, this reads no
    // other credential, so a stale hearing cookie in the browser does not stand in the way of
    // a new invitation (the new cookie replaces it).
    let _permit = policy::authorize(&Subject::Anonymous, Action::RedeemHearingInvitation)?;
    let unusable = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invitation_unusable",
            "This invitation link is unknown, already used, withdrawn or expired. Ask the court \
             for a new one.",
        )
    };
    if body.token.is_empty() || body.token.len() > 256 {
        return Err(unusable());
    }
    let session_token = auth::random_token();
    let max_secs = state.settings.auth.session_max_hours * 3600;
    let (invitation, session) = match state
        .store
        .redeem_invitation(
            &auth::token_hash(&body.token),
            &auth::token_hash(&session_token),
            max_secs,
        )
        .await
    {
        Ok(done) => done,
        Err(StoreError::NotFound(_)) => return Err(unusable()),
        Err(e) => return Err(e.into()),
    };
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::Participant(invitation.participant_id.clone()),
                "invitation.redeem",
                format!("hearing:{}", invitation.hearing_id),
            )
            .with(
                json!({ "invitation": invitation.id, "participant": invitation.participant_id,
                          "role": role_name(invitation.role) }),
            ),
        )
        .await?;
    let cookie = format!(
        "{HEARING_COOKIE}={session_token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_secs}"
    );
    let mut resp = Json(json!({
        "hearing_id": session.hearing_id,
        "participant_id": session.participant.id,
        "role": role_name(session.participant.role),
        "csrf_token": auth::csrf_token_for(&session_token),
        "expires_at": session.expires_at,
        "signal_path": format!("/api/v1/hearings/{}/signal", session.hearing_id),
    }))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.into()))?,
    );
    Ok(resp)
}

// --- procedural state ------------------------------------------------------------------------

/// The state changes, by endpoint: (path verb, target state, policy action, audit action).
const MOVES: [(&str, HearingState, Action, &str); 6] = [
    (
        "open",
        HearingState::Open,
        Action::OpenHearing,
        "hearing.open",
    ),
    (
        "start",
        HearingState::InSession,
        Action::ConductHearing,
        "hearing.start",
    ),
    (
        "pause",
        HearingState::Paused,
        Action::InterruptHearing,
        "hearing.pause",
    ),
    (
        "resume",
        HearingState::InSession,
        Action::ConductHearing,
        "hearing.resume",
    ),
    (
        "adjourn",
        HearingState::Adjourned,
        Action::ConductHearing,
        "hearing.adjourn",
    ),
    (
        "close",
        HearingState::Closed,
        Action::ConductHearing,
        "hearing.close",
    ),
];

/// `POST /api/v1/hearings/{id}/{open|start|pause|resume|adjourn|close}`
pub async fn change_state(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, verb)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let Some(&(_, to, action, audit_action)) = MOVES.iter().find(|m| m.0 == verb) else {
        return Err(ApiError::not_found("hearing action"));
    };
    let _serialised = state.hearing_transitions.lock().await;
    let (_permit, hearing, _) = hearing_permit(&state, &caller, &id, action).await?;
    let from = hearing.state;
    transition(from, to).map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            "illegal_transition",
            format!(
                "A hearing that is {} cannot become {}. From here it can become: {}.",
                state_name(from),
                state_name(to),
                if e.legal.is_empty() {
                    "nothing (it is final)".to_string()
                } else {
                    e.legal
                        .iter()
                        .map(|s| state_name(*s))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )
        .with_details(json!({ "from": state_name(from), "to": state_name(to),
                              "legal_next_states": states_json(e.legal) }))
    })?;
    if !state.store.set_hearing_state(&id, from, to).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state_changed",
            "The hearing's state changed meanwhile. Reload it and try again.",
        ));
    }
    // The room follows the record; forwarding changes from the next packet on.
    state
        .sfu
        .hearings()
        .get_or_create(&id)
        .update(|room| room.set_state(to));
    // Adjourning or closing ends a running recording: it is sealed now.
    if matches!(to, HearingState::Adjourned | HearingState::Closed)
        && state.recordings.is_recording(&id).await
    {
        match state.recordings.stop(&id).await {
            Ok(report) => {
                audit(
                    &state,
                    &caller,
                    "recording.stop",
                    &id,
                    json!({ "recording": report.recording_id, "segments": report.segments,
                            "chain": report.chain, "problems": report.problems,
                            "dropped_packets": report.dropped_packets,
                            "original": report.original.as_ref().map(|o| &o.0),
                            "because": state_name(to) }),
                )
                .await?;
            }
            Err(e) => tracing::error!(error = ?e, hearing = %id, "cannot seal the recording"),
        }
    }
    audit(
        &state,
        &caller,
        audit_action,
        &id,
        json!({ "from": state_name(from), "to": state_name(to) }),
    )
    .await?;
    // Closing seals the minutes (the close itself is their last entry). If that fails the
    // hearing is closed all the same; the failure is audited and the first request for the
    // minutes seals them.
    if to == HearingState::Closed
        && let Err(e) =
            crate::minutes::seal_final(&state.store, &state.notary, &state.audit, &id).await
    {
        tracing::error!(error = ?e, hearing = %id, "cannot seal the minutes at the close");
        audit(
            &state,
            &caller,
            "minutes.failed",
            &id,
            json!({ "error": "the minutes could not be sealed at the close" }),
        )
        .await?;
    }
    let mut updated = hearing;
    updated.state = to;
    Ok(Json(hearing_json(&updated)))
}

// --- the judge's controls --------------------------------------------------------------------

fn room_error(e: &RoomError) -> ApiError {
    match e {
        RoomError::ConsultationLocked => ApiError::new(
            StatusCode::CONFLICT,
            "consultation_locked",
            "That consultation room is locked.",
        ),
        _ => ApiError::new(
            StatusCode::CONFLICT,
            "participant_not_connected",
            "This participant is not connected to the hearing now.",
        ),
    }
}

/// The hearing's target participant and their place in the live room, after the judge's permit.
async fn live_target(
    state: &AppState,
    caller: &Caller,
    id: &str,
    participant: &str,
) -> ApiResult<(
    ParticipantRecord,
    std::sync::Arc<crate::sfu::Hearing>,
    ParticipantId,
)> {
    let _permit = hearing_permit(state, caller, id, Action::ConductHearing).await?;
    let target = state
        .store
        .participant(id, participant)
        .await?
        .filter(|p| p.removed_at.is_none())
        .ok_or_else(|| ApiError::not_found("participant in this hearing"))?;
    let live = state.sfu.hearings().get(id);
    let Some((hearing, sid)) = live.and_then(|h| h.participant_of(&target.id).map(|sid| (h, sid)))
    else {
        return Err(room_error(&RoomError::UnknownParticipant));
    };
    Ok((target, hearing, sid))
}

/// The room changes, by endpoint: (path verb, audit action).
const MOVES_IN_ROOM: [(&str, &str); 3] = [
    ("admit", "participant.admit"),
    ("call", "participant.call"),
    ("send-back", "participant.send_back"),
];

/// `POST /api/v1/hearings/{id}/participants/{participant}/{admit|call|send-back|remove}`
pub async fn move_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, participant, verb)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    if verb == "remove" {
        return remove_participant(&state, &caller, &id, &participant).await;
    }
    let Some(&(_, audit_action)) = MOVES_IN_ROOM.iter().find(|m| m.0 == verb) else {
        return Err(ApiError::not_found("participant action"));
    };
    let (target, hearing, sid) = live_target(&state, &caller, &id, &participant).await?;
    if verb == "call" && !matches!(target.role, HearingRole::Witness | HearingRole::Expert) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_callable",
            "Only witnesses and experts are called; admit other participants \
             (…/participants/{id}/admit).",
        ));
    }
    let to = if verb == "send-back" {
        Location::WaitingRoom
    } else {
        Location::HearingRoom
    };
    hearing
        .update(|room: &mut RoomState| room.move_to(sid, to))
        .map_err(|e| room_error(&e))?;
    audit(
        &state,
        &caller,
        audit_action,
        &id,
        json!({ "participant": target.id, "role": role_name(target.role) }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_participant(
    state: &AppState,
    caller: &Caller,
    id: &str,
    participant: &str,
) -> ApiResult<StatusCode> {
    let _permit = hearing_permit(state, caller, id, Action::ConductHearing).await?;
    let target = state
        .store
        .participant(id, participant)
        .await?
        .ok_or_else(|| ApiError::not_found("participant in this hearing"))?;
    state.store.remove_participant(id, &target.id).await?;
    if let Some(live) = state.sfu.hearings().get(id)
        && let Some(sid) = live.participant_of(&target.id)
    {
        live.remove(sid);
    }
    audit(
        state,
        caller,
        "participant.remove",
        id,
        json!({ "participant": target.id, "role": role_name(target.role) }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Microphone {
    locked: bool,
}

/// `POST /api/v1/hearings/{id}/participants/{participant}/microphone`: lock (and mute) or
/// release a microphone.
pub async fn microphone(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, participant)): Path<(String, String)>,
    ApiJson(body): ApiJson<Microphone>,
) -> ApiResult<StatusCode> {
    let (target, hearing, sid) = live_target(&state, &caller, &id, &participant).await?;
    hearing
        .update(|room| room.lock_mic(sid, body.locked))
        .map_err(|e| room_error(&e))?;
    audit(
        &state,
        &caller,
        if body.locked {
            "participant.mic_lock"
        } else {
            "participant.mic_release"
        },
        &id,
        json!({ "participant": target.id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    on: bool,
}

/// `POST /api/v1/hearings/{id}/participants/{participant}/camera`
pub async fn camera(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, participant)): Path<(String, String)>,
    ApiJson(body): ApiJson<Camera>,
) -> ApiResult<StatusCode> {
    let (target, hearing, sid) = live_target(&state, &caller, &id, &participant).await?;
    hearing
        .update(|room| room.set_camera(sid, body.on))
        .map_err(|e| room_error(&e))?;
    audit(
        &state,
        &caller,
        if body.on {
            "participant.camera_on"
        } else {
            "participant.camera_off"
        },
        &id,
        json!({ "participant": target.id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screen {
    /// Who must not see…
    subscriber: String,
    /// …whose video.
    publisher: String,
    screened: bool,
}

/// `POST /api/v1/hearings/{id}/screens`: `subscriber` may not (or may again) see `publisher`.
pub async fn screen(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Screen>,
) -> ApiResult<StatusCode> {
    let (_, hearing, subscriber) = live_target(&state, &caller, &id, &body.subscriber).await?;
    let (_, _, publisher) = live_target(&state, &caller, &id, &body.publisher).await?;
    hearing
        .update(|room| room.set_screened(subscriber, publisher, body.screened))
        .map_err(|e| room_error(&e))?;
    audit(
        &state,
        &caller,
        if body.screened {
            "screen.set"
        } else {
            "screen.lift"
        },
        &id,
        json!({ "subscriber": body.subscriber, "publisher": body.publisher }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- signaling admission -----------------------------------------------------------------------

/// `scheme://host[:port]` of a URL: what browsers send as `Origin`.
fn url_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// [`Admission`] backed by the policy: the upgrade request's credential (an account session or
/// token, or a hearing-session cookie) must carry [`Action::JoinHearing`] for this hearing, and
/// the waiting room must be open. The ticket's party is the participant id, stable across
/// reconnects, so what the court set for a participant stays in force.
#[derive(Clone, Debug)]
pub struct PolicyAdmission {
    state: AppState,
}

impl PolicyAdmission {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[async_trait::async_trait]
impl Admission for PolicyAdmission {
    async fn admit(&self, hearing: &str, request: &mut Parts) -> Result<JoinTicket, ApiError> {
        let caller = Caller::from_request_parts(request, &self.state).await?;
        // A browser always names the page that opens a WebSocket; cookies ride along on
        // cross-site sockets too, so refuse any page but ours (SameSite=Strict aside).
        if let Some(origin) = request.headers.get(header::ORIGIN)
            && origin.as_bytes() != url_origin(&self.state.public_url).as_bytes()
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_refused",
                "Open the hearing from this server's own pages.",
            ));
        }
        let (_permit, record, me) =
            hearing_permit(&self.state, &caller, hearing, Action::JoinHearing).await?;
        let me = me.ok_or_else(|| ApiError::from(policy::Denial::Forbidden))?;
        if !accepts_connections(record.state) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "hearing_not_open",
                format!(
                    "This hearing is {}; you can connect once the court opens its waiting room.",
                    state_name(record.state)
                ),
            )
            .with_details(json!({ "state": state_name(record.state) })));
        }
        // The room follows the record (after a restart the SFU starts empty).
        {
            let _serialised = self.state.hearing_transitions.lock().await;
            let current = self
                .state
                .store
                .hearing(hearing)
                .await?
                .map_or(record.state, |h| h.state);
            self.state
                .sfu
                .hearings()
                .get_or_create(hearing)
                .update(|room| room.set_state(current));
        }
        audit(
            &self.state,
            &caller,
            "participant.connect",
            hearing,
            json!({ "participant": me.id, "role": role_name(me.role) }),
        )
        .await?;
        let order = self
            .state
            .store
            .protective_order(&me.id)
            .await?
            .map(|o| protection_of(&o));
        if order.is_some() {
            give_secret(&self.state, hearing).await?;
        }
        Ok(JoinTicket::authorised(hearing, me.id, me.role).with_protection(order))
    }
}

// --- protective orders ----------------------------------------------------------------------

/// Hands the hearing's anonymiser secret to the SFU (made on first use, sealed at rest).
async fn give_secret(state: &AppState, hearing: &str) -> ApiResult<()> {
    let secret = crate::anonymise::hearing_secret(&state.store, &state.mla.vault, hearing).await?;
    state.sfu.anonymisers().set_secret(hearing, secret);
    Ok(())
}

/// The room's view of a stored order.
fn protection_of(o: &ProtectiveOrderRecord) -> Protection {
    Protection {
        voice_distorted: o.voice == "distorted",
        face: match o.face.as_str() {
            "masked" => FaceProtection::Masked,
            "full_frame" => FaceProtection::FullFrame,
            _ => FaceProtection::None,
        },
        raw_to: o.raw_to.iter().filter_map(|r| parse_role(r)).collect(),
        keep_original: o.keep_original,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectiveOrder {
    /// Shown to everyone instead of the participant's label (1–60 characters).
    pseudonym: String,
    /// `none` or `distorted`.
    voice: String,
    /// `none`, `masked` or `full_frame`.
    face: String,
    /// The hearing roles that receive the undistorted media, e.g. `["judge"]`.
    #[serde(default)]
    raw_to: Vec<String>,
    /// Whether the court keeps the original voice (encrypted to the court's certificate,
    /// readable only by `raw_to`). Needs `voice: distorted`, someone in `raw_to`, and a
    /// configured recipient certificate.
    #[serde(default)]
    keep_original: bool,
}

/// `PUT /api/v1/hearings/{id}/participants/{participant}/protective-order`: the judge sets or
/// changes a witness's protective order. It holds from the next packet in the live room.
pub async fn set_protective_order(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, participant)): Path<(String, String)>,
    ApiJson(body): ApiJson<ProtectiveOrder>,
) -> ApiResult<Json<Value>> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ConductHearing).await?;
    let target = state
        .store
        .participant(&id, &participant)
        .await?
        .filter(|p| p.removed_at.is_none())
        .ok_or_else(|| ApiError::not_found("participant in this hearing"))?;
    if target.role != HearingRole::Witness {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_witness",
            "A protective order is made for a witness. This participant takes part in another role.",
        ));
    }
    let field = |field: &str, message: &str| {
        ApiError::bad_request("invalid_protective_order", message.to_owned())
            .with_details(json!({ "field": field }))
    };
    let pseudonym = body.pseudonym.trim();
    if pseudonym.is_empty()
        || pseudonym.chars().count() > 60
        || pseudonym.chars().any(char::is_control)
    {
        return Err(field(
            "pseudonym",
            "Give a pseudonym of 1 to 60 characters, e.g. \"Witness X\".",
        ));
    }
    if !matches!(body.voice.as_str(), "none" | "distorted") {
        return Err(field("voice", "The voice is 'none' or 'distorted'."));
    }
    if !matches!(body.face.as_str(), "none" | "masked" | "full_frame") {
        return Err(field(
            "face",
            "The face is 'none', 'masked' or 'full_frame'.",
        ));
    }
    if body.voice == "none" && body.face == "none" {
        return Err(field(
            "voice",
            "This order hides nothing. Choose a voice or face measure, or lift the order (DELETE).",
        ));
    }
    let mut raw_to = Vec::new();
    for r in &body.raw_to {
        match parse_role(r) {
            Some(role) if role != HearingRole::Observer => {
                if !raw_to.contains(&role_name(role).to_string()) {
                    raw_to.push(role_name(role).to_string());
                }
            }
            _ => {
                return Err(field(
                    "raw_to",
                    "raw_to lists hearing roles (judge, clerk, prosecutor, defence_counsel…); the public (observer) never receives the original.",
                ));
            }
        }
    }
    if body.keep_original {
        if body.voice != "distorted" {
            return Err(field(
                "keep_original",
                "Only a distorted voice has an original to keep: set voice to 'distorted', or keep_original to false.",
            ));
        }
        if raw_to.is_empty() {
            return Err(field(
                "keep_original",
                "Name in raw_to the roles that may listen to the kept original (e.g. [\"judge\"]); nobody else ever can.",
            ));
        }
        if !state.recordings.keeps_originals() {
            return Err(super::recording::no_original_recipient());
        }
    }
    let order = ProtectiveOrderRecord {
        participant_id: target.id.clone(),
        hearing_id: id.clone(),
        pseudonym: pseudonym.to_owned(),
        voice: body.voice.clone(),
        face: body.face.clone(),
        raw_to,
        keep_original: body.keep_original,
        set_by: caller.user()?.id.clone(),
        set_at: crate::store::now(),
    };
    state.store.set_protective_order(&order).await?;
    give_secret(&state, &id).await?;
    if let Some(h) = state.sfu.hearings().get(&id)
        && let Some(sid) = h.participant_of(&target.id)
    {
        h.update(|room| room.set_protection(sid, Some(protection_of(&order))))
            .map_err(|e| room_error(&e))?;
    }
    audit(
        &state,
        &caller,
        "protective_order.set",
        &id,
        json!({ "participant": target.id, "pseudonym": order.pseudonym, "voice": order.voice,
                "face": order.face, "raw_to": order.raw_to,
                "keep_original": order.keep_original }),
    )
    .await?;
    if order.keep_original {
        // Recording already: the original is kept from the witness's next word.
        state
            .recordings
            .ensure_original(&id)
            .await
            .map_err(super::recording::recording_error)?;
    }
    Ok(Json(json!({ "protective_order": order })))
}

/// `GET /api/v1/hearings/{id}/participants/{participant}/protective-order`
pub async fn get_protective_order(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, participant)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ManageHearingParticipants).await?;
    let order = state
        .store
        .protective_order(&participant)
        .await?
        .filter(|o| o.hearing_id == id)
        .ok_or_else(|| ApiError::not_found("protective order"))?;
    Ok(Json(json!({ "protective_order": order })))
}

/// `DELETE /api/v1/hearings/{id}/participants/{participant}/protective-order`: the judge lifts
/// the order.
pub async fn lift_protective_order(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, participant)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ConductHearing).await?;
    let exists = state
        .store
        .protective_order(&participant)
        .await?
        .is_some_and(|o| o.hearing_id == id);
    if !exists || !state.store.lift_protective_order(&participant).await? {
        return Err(ApiError::not_found("protective order"));
    }
    if let Some(h) = state.sfu.hearings().get(&id)
        && let Some(sid) = h.participant_of(&participant)
    {
        h.update(|room| room.set_protection(sid, None))
            .map_err(|e| room_error(&e))?;
    }
    audit(
        &state,
        &caller,
        "protective_order.lift",
        &id,
        json!({ "participant": participant }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::url_origin;

    #[test]
    fn the_origin_of_a_url_is_its_scheme_and_authority() {
        assert_eq!(url_origin("https://court.example"), "https://court.example");
        assert_eq!(
            url_origin("https://court.example:8443/assize"),
            "https://court.example:8443"
        );
        assert_eq!(url_origin("https://127.0.0.1:1/"), "https://127.0.0.1:1");
    }
}

// --- consultation rooms ------------------------------------------------------------------------

/// Most members of one consultation room (counsel, their client or witness, an interpreter).
const MAX_CONSULTATION_MEMBERS: usize = 6;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenConsultation {
    participants: Vec<String>,
}

fn consultation_error(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// `POST /api/v1/hearings/{id}/consultations` `{"participants": [...]}`: the judge sends two to
/// six connected participants into a private consultation room of their own. Nobody from the
/// bench can be a member (not even the judge listens in); its media reaches only its members
/// and it is never recorded (rules 5 and 8 of the room).
pub async fn open_consultation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OpenConsultation>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ConductHearing).await?;
    let mut wanted = body.participants.clone();
    wanted.sort();
    wanted.dedup();
    if !(2..=MAX_CONSULTATION_MEMBERS).contains(&wanted.len()) {
        return Err(ApiError::bad_request(
            "invalid_consultation",
            "Name two to six different participants for a consultation room.",
        ));
    }
    let live = state.sfu.hearings().get(&id);
    let mut members = Vec::new();
    for p in &wanted {
        let target = state
            .store
            .participant(&id, p)
            .await?
            .filter(|t| t.removed_at.is_none())
            .ok_or_else(|| ApiError::not_found("participant in this hearing"))?;
        if matches!(target.role, HearingRole::Judge | HearingRole::Clerk) {
            return Err(consultation_error(
                "bench_not_in_consultation",
                "Judges and clerks do not take part in consultation rooms: they are private to \
                 counsel and the people they assist.",
            ));
        }
        let sid = live
            .as_ref()
            .and_then(|h| h.participant_of(&target.id))
            .ok_or_else(|| room_error(&RoomError::UnknownParticipant))?;
        members.push((target, sid));
    }
    let Some(hearing) = live else {
        return Err(room_error(&RoomError::UnknownParticipant));
    };
    // Pick a free room and move everyone in one change of the room: all or nothing.
    let room_id = hearing.update(|room: &mut RoomState| {
        let used: std::collections::BTreeSet<u16> = room
            .participants()
            .filter_map(|(_, p)| match p.location {
                Location::Consultation(c) => Some(c.0),
                _ => None,
            })
            .collect();
        let free = (1..=u16::MAX)
            .find(|n| !used.contains(n))
            .map(ConsultationRoomId)
            .ok_or(RoomError::UnknownParticipant)?;
        if members.iter().any(|(_, sid)| {
            room.participant(*sid)
                .is_none_or(|p| p.location == Location::Disconnected)
        }) {
            return Err(RoomError::UnknownParticipant);
        }
        room.set_consultation_locked(free, false);
        for (_, sid) in &members {
            room.move_to(*sid, Location::Consultation(free))?;
        }
        Ok(free)
    });
    let room_id = room_id.map_err(|e| room_error(&e))?;
    let ids: Vec<&str> = members.iter().map(|(t, _)| t.id.as_str()).collect();
    audit(
        &state,
        &caller,
        "consultation.open",
        &id,
        json!({ "consultation": room_id.0, "participants": ids }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "consultation": room_id.0, "participants": ids, "locked": false })),
    ))
}

fn consultation_number(n: &str) -> ApiResult<u16> {
    n.parse::<u16>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::not_found("consultation room"))
}

/// The members of consultation room `n` now.
fn consultation_members(room: &RoomState, n: ConsultationRoomId) -> Vec<ParticipantId> {
    room.participants()
        .filter(|(_, p)| p.location == Location::Consultation(n))
        .map(|(sid, _)| sid)
        .collect()
}

/// `POST /api/v1/hearings/{id}/consultations/{n}/{lock|unlock}`: a locked consultation room
/// admits nobody else until unlocked.
pub async fn lock_consultation(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n, verb)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let n = consultation_number(&n)?;
    let locked = match verb.as_str() {
        "lock" => true,
        "unlock" => false,
        _ => return Err(ApiError::not_found("consultation action")),
    };
    let _permit = hearing_permit(&state, &caller, &id, Action::ConductHearing).await?;
    let hearing = state
        .sfu
        .hearings()
        .get(&id)
        .ok_or_else(|| ApiError::not_found("consultation room"))?;
    let room_id = ConsultationRoomId(n);
    let exists = hearing.update(|room: &mut RoomState| {
        let exists = !consultation_members(room, room_id).is_empty();
        if exists {
            room.set_consultation_locked(room_id, locked);
        }
        exists
    });
    if !exists {
        return Err(ApiError::not_found("consultation room"));
    }
    audit(
        &state,
        &caller,
        if locked {
            "consultation.lock"
        } else {
            "consultation.unlock"
        },
        &id,
        json!({ "consultation": n }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/hearings/{id}/consultations/{n}`: the consultation ends; its members return
/// to the hearing room.
pub async fn end_consultation(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let n = consultation_number(&n)?;
    let _permit = hearing_permit(&state, &caller, &id, Action::ConductHearing).await?;
    let hearing = state
        .sfu
        .hearings()
        .get(&id)
        .ok_or_else(|| ApiError::not_found("consultation room"))?;
    let room_id = ConsultationRoomId(n);
    let returned = hearing.update(|room: &mut RoomState| {
        let members = consultation_members(room, room_id);
        room.set_consultation_locked(room_id, false);
        for sid in &members {
            let _ = room.move_to(*sid, Location::HearingRoom);
        }
        members.len()
    });
    if returned == 0 {
        return Err(ApiError::not_found("consultation room"));
    }
    audit(
        &state,
        &caller,
        "consultation.end",
        &id,
        json!({ "consultation": n, "returned": returned }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
