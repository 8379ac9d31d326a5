//! Account operations shared by the HTTP API and the `assize user …` command line, so both
//! apply the same rules.

use crate::auth;
use crate::config::Settings;
use crate::policy::Role;
use crate::store::{LinkPurpose, NewUser, Store, UserRecord, now};

/// Why an account operation was refused; each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The username breaks the rules.
    #[error("choose another username: {0}")]
    InvalidUsername(&'static str),
    /// The display name is empty or too long.
    #[error("give a display name of 1 to 200 characters")]
    InvalidDisplayName,
    /// No role, or the same role twice.
    #[error("give one or more distinct roles (administrator, judge, clerk, officer)")]
    InvalidRoles,
    /// Refusing would lock everyone out.
    #[error("this is the last active administrator: create or enable another one first")]
    LastAdministrator,
    /// Storage refused or failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Creates an account without a password and returns it with a one-time link to set one.
///
/// # Errors
/// [`AccountError`] saying what to change.
pub async fn create_user(
    store: &Store,
    settings: &Settings,
    public_url: &str,
    username: &str,
    display_name: &str,
    roles: &[Role],
) -> Result<(UserRecord, String), AccountError> {
    let username = auth::normalise_username(username).map_err(AccountError::InvalidUsername)?;
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 200 {
        return Err(AccountError::InvalidDisplayName);
    }
    let mut sorted = roles.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.is_empty() || sorted.len() != roles.len() {
        return Err(AccountError::InvalidRoles);
    }
    let user = store
        .create_user(&NewUser {
            username: &username,
            display_name,
            roles: &sorted,
            password_hash: None,
        })
        .await?;
    let link = password_link(store, settings, public_url, &user.id).await?;
    Ok((user, link))
}

/// A new one-time link with which the user sets their password.
///
/// # Errors
/// On storage failure.
pub async fn password_link(
    store: &Store,
    settings: &Settings,
    public_url: &str,
    user_id: &str,
) -> Result<String, AccountError> {
    let token = auth::random_token();
    let expires = now() + settings.auth.one_time_link_hours * 3600;
    store
        .insert_one_time_link(
            &auth::token_hash(&token),
            LinkPurpose::SetPassword,
            Some(user_id),
            expires,
        )
        .await?;
    Ok(format!("{public_url}/password?token={token}"))
}

/// When the server has no active administrator, a fresh one-time link that creates the first
/// one (older unused links stop working).
///
/// # Errors
/// On storage failure.
pub async fn first_administrator_link(
    store: &Store,
    settings: &Settings,
    public_url: &str,
) -> Result<Option<String>, AccountError> {
    if store.count_active_administrators().await? > 0 {
        return Ok(None);
    }
    let token = auth::random_token();
    let expires = now() + settings.auth.one_time_link_hours * 3600;
    store
        .insert_one_time_link(
            &auth::token_hash(&token),
            LinkPurpose::FirstAdministrator,
            None,
            expires,
        )
        .await?;
    Ok(Some(format!("{public_url}/setup?token={token}")))
}

/// Disables or enables an account, refusing to disable the last active administrator.
///
/// # Errors
/// [`AccountError::LastAdministrator`], or not found.
pub async fn set_disabled(
    store: &Store,
    user_id: &str,
    disabled: bool,
) -> Result<UserRecord, AccountError> {
    let user = store
        .user_by_id(user_id)
        .await?
        .ok_or(crate::store::StoreError::NotFound("user"))?;
    if disabled
        && !user.disabled
        && user.roles.contains(&Role::Administrator)
        && store.count_active_administrators().await? <= 1
    {
        return Err(AccountError::LastAdministrator);
    }
    store.set_user_disabled(user_id, disabled).await?;
    Ok(store
        .user_by_id(user_id)
        .await?
        .ok_or(crate::store::StoreError::NotFound("user"))?)
}
