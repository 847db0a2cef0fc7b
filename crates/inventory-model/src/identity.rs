//! What an agent's Entra identity may do, as plain data a connector fills from Microsoft
//! Graph (service principal, application permissions, delegated grants, credentials,
//! owners), and how it becomes the over-privileged identity finding.
//!
//! The model does not classify permission names itself: the caller passes, for each
//! permission, why it is high-privilege (or nothing). An agent's own identity needs no
//! high-privilege permission to serve its tools (tools call services through their own
//! connections), so every high-privilege application permission, and every high-privilege
//! delegated scope an administrator consented for everyone, is excess.

use crate::input::{IdentityObservation, PermissionObservation};

/// One permission held.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldPermission {
    /// The permission name (`Mail.Send`), or the role id when it has no name.
    pub name: String,
    /// The resource (`Microsoft Graph`).
    pub resource: String,
    /// Why it is high-privilege, when it is.
    pub high_privilege: Option<String>,
    /// For a delegated scope: whether an administrator consented for every user.
    pub admin_consent: bool,
}

impl HeldPermission {
    /// A permission with no high-privilege reason and no admin consent.
    pub fn new(name: impl Into<String>, resource: impl Into<String>) -> Self {
        HeldPermission {
            name: name.into(),
            resource: resource.into(),
            high_privilege: None,
            admin_consent: false,
        }
    }

    /// Marks it high-privilege, with why.
    #[must_use]
    pub fn high_privilege(mut self, why: impl Into<String>) -> Self {
        self.high_privilege = Some(why.into());
        self
    }

    /// Marks a delegated scope as consented by an administrator for everyone.
    #[must_use]
    pub fn admin_consented(mut self) -> Self {
        self.admin_consent = true;
        self
    }
}

/// What needs attention about a credential of the identity's app registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialProblem {
    /// It has expired.
    Expired,
    /// It expires within 30 days.
    ExpiringSoon,
    /// A client secret valid for more than a year (or without end).
    LongLivedSecret,
}

impl CredentialProblem {
    /// The words a finding's evidence uses.
    pub fn describe(self) -> &'static str {
        match self {
            CredentialProblem::Expired => "expired credential",
            CredentialProblem::ExpiringSoon => "credential expiring within 30 days",
            CredentialProblem::LongLivedSecret => "secret valid for more than a year",
        }
    }
}

/// Everything read about one agent's Entra identity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityPermissions {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// The application (client) id.
    pub app_id: String,
    /// The service principal's object id.
    pub principal_id: String,
    /// Application permissions (app role assignments).
    pub application: Vec<HeldPermission>,
    /// Delegated scopes consented for it.
    pub delegated: Vec<HeldPermission>,
    /// Credential problems, one entry per problem per credential.
    pub credential_problems: Vec<CredentialProblem>,
    /// The app registration is in the tenant and has no owner.
    pub orphaned: bool,
}

impl IdentityPermissions {
    /// An identity with nothing read yet.
    pub fn new(
        agent_id: impl Into<String>,
        environment_id: impl Into<String>,
        app_id: impl Into<String>,
        principal_id: impl Into<String>,
    ) -> Self {
        IdentityPermissions {
            agent_id: agent_id.into(),
            environment_id: environment_id.into(),
            app_id: app_id.into(),
            principal_id: principal_id.into(),
            application: Vec::new(),
            delegated: Vec::new(),
            credential_problems: Vec::new(),
            orphaned: false,
        }
    }

    /// The permissions beyond what an agent identity needs: high-privilege application
    /// permissions and high-privilege delegated scopes with admin consent for everyone,
    /// sorted and without repeats.
    pub fn excess(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .application
            .iter()
            .filter(|p| p.high_privilege.is_some())
            .chain(
                self.delegated
                    .iter()
                    .filter(|p| p.high_privilege.is_some() && p.admin_consent),
            )
            .map(|p| p.name.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The observation the posture check reads.
    pub fn observation(&self) -> IdentityObservation {
        let mut o = IdentityObservation::new(self.agent_id.clone(), self.environment_id.clone());
        o.permissions = Some(
            PermissionObservation::new(self.principal_id.clone(), self.excess())
                .hygiene(self.credential_problems.clone(), self.orphaned),
        );
        o
    }
}

/// Puts `identities` into `observations`: an agent already observed (e.g. its owner) gets
/// its permissions set, another gets a new observation.
pub fn merge_identities(
    observations: &mut Vec<IdentityObservation>,
    identities: &[IdentityPermissions],
) {
    for id in identities {
        let obs = id.observation();
        match observations
            .iter_mut()
            .find(|o| o.agent_id == id.agent_id && o.environment_id == id.environment_id)
        {
            Some(o) => o.permissions = obs.permissions,
            None => observations.push(obs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_is_high_privilege_application_or_admin_consented_delegated() {
        let mut id = IdentityPermissions::new("b", "e", "a", "sp");
        id.application
            .push(HeldPermission::new("Mail.Send", "Microsoft Graph").high_privilege("sends mail"));
        id.application
            .push(HeldPermission::new("User.Read.All", "Microsoft Graph"));
        id.delegated.push(
            HeldPermission::new("Files.ReadWrite.All", "Microsoft Graph")
                .high_privilege("writes files")
                .admin_consented(),
        );
        // One user's own consent is theirs to give: not an identity finding.
        id.delegated.push(
            HeldPermission::new("Sites.ReadWrite.All", "Microsoft Graph").high_privilege("x"),
        );
        assert_eq!(id.excess(), ["Files.ReadWrite.All", "Mail.Send"]);
        let mut obs = vec![IdentityObservation::new("b", "e")];
        merge_identities(&mut obs, &[id.clone()]);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].permissions.as_ref().map(|p| p.excess.len()), Some(2));
        let least = IdentityPermissions::new("c", "e", "a2", "sp2");
        merge_identities(&mut obs, &[least]);
        assert_eq!(obs.len(), 2);
        assert_eq!(
            obs[1].permissions.as_ref().map(|p| p.excess.is_empty()),
            Some(true)
        );
    }
}
