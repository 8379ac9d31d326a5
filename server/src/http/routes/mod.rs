//! Route table. Each handler names its policy [`crate::policy::Action`] first thing.

mod audit;
mod authorities;
mod hearings;
mod minutes;
mod mla;
mod onetime;
mod openapi;
mod probes;
mod recording;
mod session;
mod tokens;
mod tsa;
mod users;
mod webapp;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use super::AppState;

pub(super) use hearings::PolicyAdmission;

/// The routes; `mla` gives the larger body limits of attachment uploads and deliveries.
pub(super) fn routes(mla: &crate::config::MlaSettings) -> Router<AppState> {
    let message_limit = usize::try_from(mla.max_message_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/", get(webapp::index))
        .route("/join", get(webapp::index))
        .route("/app/{*path}", get(webapp::asset))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .route("/api/openapi.json", get(openapi::document))
        .route("/setup", get(onetime::setup_page))
        .route("/password", get(onetime::password_page))
        .route("/assets/onetime.js", get(onetime::script))
        .route("/api/v1/setup", post(onetime::create_first_administrator))
        .route("/api/v1/password", post(onetime::set_password))
        .route(
            "/api/v1/session",
            post(session::sign_in)
                .get(session::current)
                .delete(session::sign_out),
        )
        .route("/api/v1/session/totp", post(session::begin_totp_enrolment))
        .route(
            "/api/v1/session/totp/confirm",
            post(session::confirm_totp_enrolment),
        )
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}/disable", post(users::disable))
        .route("/api/v1/users/{id}/enable", post(users::enable))
        .route("/api/v1/users/{id}/reset-totp", post(users::reset_totp))
        .route(
            "/api/v1/users/{id}/password-link",
            post(users::password_link),
        )
        .route(
            "/api/v1/authorities",
            get(authorities::list).post(authorities::create),
        )
        .route("/api/v1/federation/whoami", get(authorities::whoami))
        .route(
            "/api/v1/federation/checkpoints",
            post(audit::receive_peer_checkpoint),
        )
        .route("/api/v1/audit/checkpoint", get(audit::latest_checkpoint))
        .route("/api/v1/audit/entries/{seq}", get(audit::entry))
        .route("/api/v1/audit/consistency", get(audit::consistency))
        .route("/api/v1/hearings", get(hearings::list).post(hearings::book))
        .route("/api/v1/hearings/{id}", get(hearings::get))
        .route("/api/v1/hearings/{id}/me", get(hearings::me))
        .route("/api/v1/hearings/{id}/participants", post(hearings::assign))
        .route(
            "/api/v1/hearings/{id}/invitations",
            get(hearings::invitations).post(hearings::invite),
        )
        .route(
            "/api/v1/hearings/{id}/invitations/{invitation}",
            axum::routing::delete(hearings::revoke),
        )
        .route(
            "/api/v1/hearings/{id}/invitations/{invitation}/reissue",
            post(hearings::reissue),
        )
        .route("/api/v1/hearing-invitations/redeem", post(hearings::redeem))
        .route("/api/v1/hearings/{id}/screens", post(hearings::screen))
        // start, stop
        .route(
            "/api/v1/hearings/{id}/recording/{verb}",
            post(recording::control),
        )
        .route(
            "/api/v1/hearings/{id}/recording/export",
            get(recording::export),
        )
        .route(
            "/api/v1/hearings/{id}/recordings/{recording}/original",
            get(recording::original),
        )
        .route("/api/v1/hearings/{id}/minutes", get(minutes::get))
        .route(
            "/api/v1/hearings/{id}/consultations",
            post(hearings::open_consultation),
        )
        .route(
            "/api/v1/hearings/{id}/consultations/{room}",
            axum::routing::delete(hearings::end_consultation),
        )
        // lock, unlock
        .route(
            "/api/v1/hearings/{id}/consultations/{room}/{verb}",
            post(hearings::lock_consultation),
        )
        // open, start, pause, resume, adjourn, close
        .route("/api/v1/hearings/{id}/{verb}", post(hearings::change_state))
        .route(
            "/api/v1/hearings/{id}/participants/{participant}/microphone",
            post(hearings::microphone),
        )
        .route(
            "/api/v1/hearings/{id}/participants/{participant}/camera",
            post(hearings::camera),
        )
        .route(
            "/api/v1/hearings/{id}/participants/{participant}/protective-order",
            get(hearings::get_protective_order)
                .put(hearings::set_protective_order)
                .delete(hearings::lift_protective_order),
        )
        // admit, call, send-back, remove
        .route(
            "/api/v1/hearings/{id}/participants/{participant}/{verb}",
            post(hearings::move_participant),
        )
        .route("/api/v1/users/{id}/authority", put(mla::set_user_authority))
        .route("/api/v1/mla/requests", get(mla::list).post(mla::create))
        .route("/api/v1/mla/requests/{id}", get(mla::get))
        .route("/api/v1/mla/requests/{id}/form", put(mla::update_form))
        .route(
            "/api/v1/mla/requests/{id}/transitions",
            post(mla::transition),
        )
        .route("/api/v1/mla/requests/{id}/extension", post(mla::extend))
        .route(
            "/api/v1/mla/requests/{id}/attachments",
            // The handler reads the body itself, within mla.max_attachment_bytes.
            post(mla::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/mla/requests/{id}/attachments/{attachment}",
            get(mla::download),
        )
        .route("/api/v1/mla/requests/{id}/audit", get(mla::audit_trail))
        .route(
            "/api/v1/mla/requests/{id}/evidence",
            get(mla::evidence).post(mla::transmit_hearing_record),
        )
        .route(
            "/api/v1/federation/mla/messages",
            post(mla::deliver).layer(DefaultBodyLimit::max(message_limit)),
        )
        .route("/tsa", post(tsa::timestamp))
        .route("/tsa/certs.pem", get(tsa::certificates))
}
