//! Who may act on which organization's data. Every handler asks [`authorize`]; nothing else
//! decides access, so the rules below are the whole policy.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds of organization a region has (product.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    /// The education department (услугодатель) that renders the services.
    Provider,
    /// A State Corporation "Government for Citizens" front office (ЦОН).
    StateCorporation,
    Kindergarten,
    /// An oversight body whose auditors read, never change.
    Oversight,
}

impl OrganizationKind {
    pub const ALL: [OrganizationKind; 4] =
        [Self::Provider, Self::StateCorporation, Self::Kindergarten, Self::Oversight];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::StateCorporation => "state_corporation",
            Self::Kindergarten => "kindergarten",
            Self::Oversight => "oversight",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A role a user holds, within one organization (or none, for a citizen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Operator,
    Clerk,
    Head,
    Specialist,
    KindergartenHead,
    RegionalAdmin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Self::Citizen,
        Self::Operator,
        Self::Clerk,
        Self::Head,
        Self::Specialist,
        Self::KindergartenHead,
        Self::RegionalAdmin,
        Self::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Operator => "operator",
            Self::Clerk => "clerk",
            Self::Head => "head",
            Self::Specialist => "specialist",
            Self::KindergartenHead => "kindergarten_head",
            Self::RegionalAdmin => "regional_admin",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The kind of organization this role belongs to; `None` for a citizen, who belongs to none.
    pub fn organization_kind(self) -> Option<OrganizationKind> {
        match self {
            Self::Citizen => None,
            Self::Operator => Some(OrganizationKind::StateCorporation),
            Self::Clerk | Self::Head | Self::Specialist | Self::RegionalAdmin => {
                Some(OrganizationKind::Provider)
            }
            Self::KindergartenHead => Some(OrganizationKind::Kindergarten),
            Self::Auditor => Some(OrganizationKind::Oversight),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(pub i64);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrganizationId(pub i64);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RegionId(pub i64);

/// Where an organization sits: enough to decide access to its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrganizationScope {
    pub id: OrganizationId,
    pub region: RegionId,
    pub kind: OrganizationKind,
}

/// One role of a user; staff roles are held in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    pub role: Role,
    pub organization: Option<OrganizationScope>,
}

/// The authenticated user a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    pub memberships: Vec<Membership>,
}

/// What a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read a user's own account (profile, settings, their records).
    ReadUser(UserId),
    /// Change a user's own account settings.
    UpdateUser(UserId),
    /// List the staff of an organization and their roles.
    ReadStaff(OrganizationScope),
    /// Change an organization's details (office hours, address).
    UpdateOrganization(OrganizationScope),
    /// Change a kindergarten group's capacity or enrolment count.
    UpdatePlaces(OrganizationScope),
    /// Read the audit log entries of a region.
    ReadAudit(RegionId),
    /// File a queue registration for a child in a region on someone's behalf (front office or
    /// provider's office); citizens file for themselves through `ActAsApplicant`.
    FileForApplicant(RegionId),
    /// Act on one's own application: change preferences, claim a priority, answer a referral.
    ActAsApplicant(UserId),
    /// Read a queue registration of a region filed by `applicant`.
    ReadRegistration { region: RegionId, applicant: UserId },
    /// Confirm, reject or revoke priority claims of a region.
    ReviewClaims(RegionId),
    /// Start an allocation round, run referral expiry, set the region's queue rules.
    ManageQueue(RegionId),
    /// Enrol a child under a referral, or refuse it, at this kindergarten.
    Enrol(OrganizationScope),
    /// File a service application for the applicant present at this office: an operator at a
    /// State Corporation office, a clerk (or a kindergarten's head) at the provider's own office.
    FileAtOffice(OrganizationScope),
    /// Act on a step of an application handled by this organization; which role the step needs
    /// is the step machine's check (`application`), this only keeps outsiders out.
    ActOnApplication(OrganizationScope),
    /// Read an application: its applicant, the staff of the organizations handling it, and the
    /// region's administrators and auditors.
    ReadApplication {
        provider: OrganizationScope,
        front_office: Option<OrganizationScope>,
        applicant: UserId,
    },
    /// Read the applications an organization handles, with their due and overdue steps.
    ReadWorkList(OrganizationScope),
}

/// Why an action was refused. The web layer answers 403 (or 404 where existence itself is private).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not permitted")]
pub struct Denied;

impl Principal {
    fn holds(&self, role: Role, pred: impl Fn(&OrganizationScope) -> bool) -> bool {
        self.memberships
            .iter()
            .any(|m| m.role == role && m.organization.as_ref().is_some_and(&pred))
    }

    fn holds_in(&self, role: Role, org: OrganizationId) -> bool {
        self.holds(role, |o| o.id == org)
    }

    fn holds_in_region(&self, role: Role, region: RegionId) -> bool {
        self.holds(role, |o| o.region == region)
    }

    /// Whether the user holds any staff role in `org`.
    fn works_in(&self, org: OrganizationId) -> bool {
        self.memberships
            .iter()
            .any(|m| m.role != Role::Citizen && m.organization.is_some_and(|o| o.id == org))
    }

    pub fn roles(&self) -> impl Iterator<Item = Role> + '_ {
        self.memberships.iter().map(|m| m.role)
    }
}

/// The access policy. Staff act only inside their own organization; a regional administrator
/// acts on the organizations of their own region; auditors read their region; a citizen reaches
/// only their own records.
pub fn authorize(who: &Principal, action: Action) -> Result<(), Denied> {
    let allowed = match action {
        Action::ReadUser(user) | Action::UpdateUser(user) => who.user == user,
        Action::ReadStaff(org) => {
            who.holds_in(Role::Head, org.id)
                || who.holds_in(Role::KindergartenHead, org.id)
                || who.holds_in_region(Role::RegionalAdmin, org.region)
                || who.holds_in_region(Role::Auditor, org.region)
        }
        Action::UpdateOrganization(org) => {
            who.holds_in(Role::Head, org.id)
                || who.holds_in(Role::KindergartenHead, org.id)
                || who.holds_in_region(Role::RegionalAdmin, org.region)
        }
        Action::UpdatePlaces(org) => {
            org.kind == OrganizationKind::Kindergarten
                && (who.holds_in(Role::KindergartenHead, org.id)
                    || who.holds_in_region(Role::RegionalAdmin, org.region))
        }
        Action::ReadAudit(region) => {
            who.holds_in_region(Role::Auditor, region)
                || who.holds_in_region(Role::RegionalAdmin, region)
        }
        Action::FileForApplicant(region) => {
            who.holds_in_region(Role::Operator, region) || who.holds_in_region(Role::Clerk, region)
        }
        Action::ActAsApplicant(applicant) => who.user == applicant,
        Action::ReadRegistration { region, applicant } => {
            who.user == applicant
                || [Role::Operator, Role::Clerk, Role::Head, Role::Specialist, Role::RegionalAdmin, Role::Auditor]
                    .into_iter()
                    .any(|r| who.holds_in_region(r, region))
        }
        Action::ReviewClaims(region) => {
            [Role::Specialist, Role::Head, Role::RegionalAdmin].into_iter().any(|r| who.holds_in_region(r, region))
        }
        Action::ManageQueue(region) => who.holds_in_region(Role::RegionalAdmin, region),
        Action::Enrol(org) => {
            org.kind == OrganizationKind::Kindergarten && who.holds_in(Role::KindergartenHead, org.id)
        }
        Action::FileAtOffice(org) => match org.kind {
            OrganizationKind::StateCorporation => who.holds_in(Role::Operator, org.id),
            OrganizationKind::Provider => who.holds_in(Role::Clerk, org.id),
            OrganizationKind::Kindergarten => who.holds_in(Role::KindergartenHead, org.id),
            OrganizationKind::Oversight => false,
        },
        // Auditors and regional administrators read; they do not perform steps.
        Action::ActOnApplication(org) => {
            [Role::Operator, Role::Clerk, Role::Head, Role::Specialist, Role::KindergartenHead]
                .into_iter()
                .any(|r| who.holds_in(r, org.id))
        }
        Action::ReadApplication { provider, front_office, applicant } => {
            who.user == applicant
                || who.works_in(provider.id)
                || front_office.is_some_and(|f| who.works_in(f.id))
                || who.holds_in_region(Role::RegionalAdmin, provider.region)
                || who.holds_in_region(Role::Auditor, provider.region)
        }
        Action::ReadWorkList(org) => {
            who.works_in(org.id)
                || who.holds_in_region(Role::RegionalAdmin, org.region)
                || who.holds_in_region(Role::Auditor, org.region)
        }
    };
    if allowed { Ok(()) } else { Err(Denied) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALMATY: RegionId = RegionId(1);
    const ASTANA: RegionId = RegionId(2);

    fn org(id: i64, region: RegionId, kind: OrganizationKind) -> OrganizationScope {
        OrganizationScope { id: OrganizationId(id), region, kind }
    }

    fn staff(user: i64, role: Role, at: OrganizationScope) -> Principal {
        Principal {
            user: UserId(user),
            memberships: vec![Membership { role, organization: Some(at) }],
        }
    }

    #[test]
    fn kindergarten_head_changes_places_of_own_kindergarten_only() {
        let k1 = org(10, ALMATY, OrganizationKind::Kindergarten);
        let k2 = org(11, ALMATY, OrganizationKind::Kindergarten);
        let head = staff(1, Role::KindergartenHead, k1);
        assert_eq!(authorize(&head, Action::UpdatePlaces(k1)), Ok(()));
        assert_eq!(authorize(&head, Action::UpdatePlaces(k2)), Err(Denied));
        assert_eq!(authorize(&head, Action::ReadStaff(k2)), Err(Denied));
    }

    #[test]
    fn regional_admin_acts_in_own_region_only() {
        let provider = org(1, ALMATY, OrganizationKind::Provider);
        let k_almaty = org(10, ALMATY, OrganizationKind::Kindergarten);
        let k_astana = org(20, ASTANA, OrganizationKind::Kindergarten);
        let admin = staff(1, Role::RegionalAdmin, provider);
        assert_eq!(authorize(&admin, Action::UpdatePlaces(k_almaty)), Ok(()));
        assert_eq!(authorize(&admin, Action::UpdatePlaces(k_astana)), Err(Denied));
        assert_eq!(authorize(&admin, Action::ReadAudit(ASTANA)), Err(Denied));
    }

    #[test]
    fn places_exist_only_in_kindergartens() {
        let provider = org(1, ALMATY, OrganizationKind::Provider);
        let admin = staff(1, Role::RegionalAdmin, provider);
        assert_eq!(authorize(&admin, Action::UpdatePlaces(provider)), Err(Denied));
    }

    #[test]
    fn auditor_reads_but_never_changes() {
        let oversight = org(5, ALMATY, OrganizationKind::Oversight);
        let k = org(10, ALMATY, OrganizationKind::Kindergarten);
        let auditor = staff(3, Role::Auditor, oversight);
        assert_eq!(authorize(&auditor, Action::ReadAudit(ALMATY)), Ok(()));
        assert_eq!(authorize(&auditor, Action::ReadStaff(k)), Ok(()));
        assert_eq!(authorize(&auditor, Action::UpdatePlaces(k)), Err(Denied));
        assert_eq!(authorize(&auditor, Action::UpdateOrganization(k)), Err(Denied));
    }

    #[test]
    fn citizen_reaches_only_their_own_account() {
        let citizen = Principal {
            user: UserId(7),
            memberships: vec![Membership { role: Role::Citizen, organization: None }],
        };
        let k = org(10, ALMATY, OrganizationKind::Kindergarten);
        assert_eq!(authorize(&citizen, Action::ReadUser(UserId(7))), Ok(()));
        assert_eq!(authorize(&citizen, Action::ReadUser(UserId(8))), Err(Denied));
        assert_eq!(authorize(&citizen, Action::UpdatePlaces(k)), Err(Denied));
        assert_eq!(authorize(&citizen, Action::ReadAudit(ALMATY)), Err(Denied));
    }

    #[test]
    fn front_office_operator_has_no_back_office_rights() {
        let office = org(2, ALMATY, OrganizationKind::StateCorporation);
        let provider = org(1, ALMATY, OrganizationKind::Provider);
        let op = staff(4, Role::Operator, office);
        assert_eq!(authorize(&op, Action::ReadStaff(provider)), Err(Denied));
        assert_eq!(authorize(&op, Action::ReadStaff(office)), Err(Denied));
    }

    #[test]
    fn queue_actions_follow_roles_and_regions() {
        let provider = org(1, ALMATY, OrganizationKind::Provider);
        let office = org(2, ALMATY, OrganizationKind::StateCorporation);
        let k = org(10, ALMATY, OrganizationKind::Kindergarten);
        let k2 = org(11, ALMATY, OrganizationKind::Kindergarten);
        let citizen = Principal { user: UserId(7), memberships: vec![Membership { role: Role::Citizen, organization: None }] };
        let op = staff(4, Role::Operator, office);
        let specialist = staff(5, Role::Specialist, provider);
        let admin = staff(6, Role::RegionalAdmin, provider);
        let head = staff(8, Role::KindergartenHead, k);
        assert_eq!(authorize(&op, Action::FileForApplicant(ALMATY)), Ok(()));
        assert_eq!(authorize(&op, Action::FileForApplicant(ASTANA)), Err(Denied));
        assert_eq!(authorize(&citizen, Action::FileForApplicant(ALMATY)), Err(Denied));
        assert_eq!(authorize(&citizen, Action::ReadRegistration { region: ALMATY, applicant: UserId(7) }), Ok(()));
        assert_eq!(authorize(&citizen, Action::ReadRegistration { region: ALMATY, applicant: UserId(9) }), Err(Denied));
        assert_eq!(authorize(&specialist, Action::ReviewClaims(ALMATY)), Ok(()));
        assert_eq!(authorize(&op, Action::ReviewClaims(ALMATY)), Err(Denied));
        assert_eq!(authorize(&specialist, Action::ManageQueue(ALMATY)), Err(Denied));
        assert_eq!(authorize(&admin, Action::ManageQueue(ALMATY)), Ok(()));
        assert_eq!(authorize(&admin, Action::ManageQueue(ASTANA)), Err(Denied));
        assert_eq!(authorize(&head, Action::Enrol(k)), Ok(()));
        assert_eq!(authorize(&head, Action::Enrol(k2)), Err(Denied));
        assert_eq!(authorize(&admin, Action::Enrol(k)), Err(Denied), "only the kindergarten signs the contract");
    }

    #[test]
    fn applications_are_acted_on_by_the_handling_organizations_staff_only() {
        let provider = org(1, ALMATY, OrganizationKind::Provider);
        let office = org(2, ALMATY, OrganizationKind::StateCorporation);
        let oversight = org(3, ALMATY, OrganizationKind::Oversight);
        let astana_provider = org(9, ASTANA, OrganizationKind::Provider);
        let k = org(10, ALMATY, OrganizationKind::Kindergarten);
        let citizen = Principal { user: UserId(7), memberships: vec![Membership { role: Role::Citizen, organization: None }] };
        let clerk = staff(5, Role::Clerk, provider);
        let specialist = staff(6, Role::Specialist, provider);
        let op = staff(4, Role::Operator, office);
        let astana_admin = staff(8, Role::RegionalAdmin, astana_provider);
        let admin = staff(11, Role::RegionalAdmin, provider);
        let auditor = staff(12, Role::Auditor, oversight);
        let k_head = staff(13, Role::KindergartenHead, k);

        assert_eq!(authorize(&clerk, Action::FileAtOffice(provider)), Ok(()));
        assert_eq!(authorize(&specialist, Action::FileAtOffice(provider)), Err(Denied), "the clerk's office accepts");
        assert_eq!(authorize(&op, Action::FileAtOffice(office)), Ok(()));
        assert_eq!(authorize(&op, Action::FileAtOffice(provider)), Err(Denied));
        assert_eq!(authorize(&k_head, Action::FileAtOffice(k)), Ok(()));
        assert_eq!(authorize(&citizen, Action::FileAtOffice(provider)), Err(Denied));

        assert_eq!(authorize(&specialist, Action::ActOnApplication(provider)), Ok(()));
        assert_eq!(authorize(&op, Action::ActOnApplication(office)), Ok(()));
        assert_eq!(authorize(&op, Action::ActOnApplication(provider)), Err(Denied));
        assert_eq!(authorize(&astana_admin, Action::ActOnApplication(provider)), Err(Denied));
        assert_eq!(authorize(&admin, Action::ActOnApplication(provider)), Err(Denied), "administrators read, they do not perform steps");
        assert_eq!(authorize(&citizen, Action::ActOnApplication(provider)), Err(Denied));

        let read = |applicant| Action::ReadApplication { provider, front_office: Some(office), applicant };
        assert_eq!(authorize(&citizen, read(UserId(7))), Ok(()));
        assert_eq!(authorize(&citizen, read(UserId(70))), Err(Denied));
        assert_eq!(authorize(&op, read(UserId(70))), Ok(()));
        assert_eq!(authorize(&auditor, read(UserId(70))), Ok(()));
        assert_eq!(authorize(&astana_admin, read(UserId(70))), Err(Denied));
        let portal = Action::ReadApplication { provider, front_office: None, applicant: UserId(70) };
        assert_eq!(authorize(&op, portal), Err(Denied), "a front office sees only what came through it");

        assert_eq!(authorize(&clerk, Action::ReadWorkList(provider)), Ok(()));
        assert_eq!(authorize(&admin, Action::ReadWorkList(provider)), Ok(()));
        assert_eq!(authorize(&astana_admin, Action::ReadWorkList(provider)), Err(Denied));
        assert_eq!(authorize(&citizen, Action::ReadWorkList(provider)), Err(Denied));
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for k in OrganizationKind::ALL {
            assert_eq!(OrganizationKind::parse(k.as_str()), Some(k));
        }
    }
}
