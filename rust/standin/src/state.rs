//! The organization the stand-in plays: one org, one team, projects with client keys.
//! No I/O; the server keeps it behind a mutex.

use crate::{clock, slug};

#[derive(Debug, Clone)]
pub struct Team {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub date_created: String,
}

/// A client key (DSN key) of a project.
#[derive(Debug, Clone)]
pub struct Key {
    pub public: String,
    pub secret: String,
    pub name: String,
    pub active: bool,
    pub date_created: String,
}

/// A Sentry feature flag that decides what ingest keeps; on for every project unless switched
/// off through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Without it relay drops trace metrics after answering 200.
    TraceMetricsIngestion,
}

impl Feature {
    pub const ALL: [Feature; 1] = [Feature::TraceMetricsIngestion];

    /// The name in relay's project config.
    pub fn name(self) -> &'static str {
        match self {
            Feature::TraceMetricsIngestion => "organizations:tracemetrics-ingestion",
        }
    }

    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub platform: Option<String>,
    pub date_created: String,
    pub keys: Vec<Key>,
    /// Features switched off; all others are on.
    pub disabled_features: Vec<Feature>,
}

impl Project {
    pub fn has_feature(&self, feature: Feature) -> bool {
        !self.disabled_features.contains(&feature)
    }
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: u64,
    pub slug: String,
    /// The slug: the stand-in has no other name for it.
    pub name: String,
    pub date_created: String,
    pub team: Team,
    projects: Vec<Project>,
    next_project_id: u64,
}

/// Why a project could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    InvalidSlug,
    SlugExists,
}

/// Who a public key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    Unknown,
    Inactive { project_id: u64 },
    Active { project_id: u64 },
}

impl Org {
    /// An org with one team and `projects` (ids from 1, each with one active key).
    pub fn new(slug: &str, team: &str, projects: &[String]) -> Result<Org, String> {
        for (what, s) in [("org", slug), ("team", team)] {
            if !slug::is_valid(s) {
                return Err(format!("{what} slug {s:?} is not a valid Sentry slug"));
            }
        }
        let now = clock::now_rfc3339();
        let mut org = Org {
            id: 1,
            slug: slug.to_string(),
            name: slug.to_string(),
            date_created: now.clone(),
            team: Team {
                id: 1,
                slug: team.to_string(),
                name: team.to_string(),
                date_created: now,
            },
            projects: Vec::new(),
            next_project_id: 1,
        };
        for p in projects {
            match org.create_project(p, p, None) {
                Ok(_) => {}
                Err(CreateError::InvalidSlug) => {
                    return Err(format!("project slug {p:?} is not a valid Sentry slug"))
                }
                Err(CreateError::SlugExists) => return Err(format!("project {p:?} given twice")),
            }
        }
        Ok(org)
    }

    /// Whether `id_or_slug` (decoded) names this org.
    pub fn is(&self, id_or_slug: &str) -> bool {
        id_or_slug == self.slug || id_or_slug == self.id.to_string()
    }

    /// Whether `id_or_slug` (decoded) names the team.
    pub fn is_team(&self, id_or_slug: &str) -> bool {
        id_or_slug == self.team.slug || id_or_slug == self.team.id.to_string()
    }

    /// All projects, by id.
    pub fn projects(&self) -> &[Project] {
        &self.projects
    }

    /// A project by slug or numeric id.
    pub fn project(&self, id_or_slug: &str) -> Option<&Project> {
        self.projects
            .iter()
            .find(|p| p.slug == id_or_slug || p.id.to_string() == id_or_slug)
    }

    pub fn project_by_id(&self, id: u64) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    pub fn create_project(
        &mut self,
        slug: &str,
        name: &str,
        platform: Option<&str>,
    ) -> Result<&Project, CreateError> {
        if !slug::is_valid(slug) {
            return Err(CreateError::InvalidSlug);
        }
        if self.projects.iter().any(|p| p.slug == slug) {
            return Err(CreateError::SlugExists);
        }
        let id = self.next_project_id;
        self.next_project_id += 1;
        self.projects.push(Project {
            id,
            slug: slug.to_string(),
            name: name.to_string(),
            platform: platform.map(str::to_string),
            date_created: clock::now_rfc3339(),
            keys: vec![new_key()],
            disabled_features: Vec::new(),
        });
        let last = self.projects.len() - 1;
        Ok(&self.projects[last])
    }

    /// Removes a project and its keys; its id is never reused.
    pub fn delete_project(&mut self, slug: &str) -> Option<Project> {
        let at = self.projects.iter().position(|p| p.slug == slug)?;
        Some(self.projects.remove(at))
    }

    /// Deactivates the project's active keys and adds a new active one.
    /// Returns (the revoked public keys, the new public key).
    pub fn rotate_keys(&mut self, slug: &str) -> Option<(Vec<String>, String)> {
        let project = self.projects.iter_mut().find(|p| p.slug == slug)?;
        let mut revoked = Vec::new();
        for key in project.keys.iter_mut().filter(|k| k.active) {
            key.active = false;
            revoked.push(key.public.clone());
        }
        let key = new_key();
        let public = key.public.clone();
        project.keys.push(key);
        Some((revoked, public))
    }

    /// Switches a feature of a project on or off.
    pub fn set_feature(&mut self, slug: &str, feature: Feature, on: bool) -> Option<&Project> {
        let project = self.projects.iter_mut().find(|p| p.slug == slug)?;
        project.disabled_features.retain(|&f| f != feature);
        if !on {
            project.disabled_features.push(feature);
        }
        Some(project)
    }

    pub fn key_owner(&self, public: &str) -> KeyOwner {
        for p in &self.projects {
            if let Some(k) = p.keys.iter().find(|k| k.public == public) {
                return if k.active {
                    KeyOwner::Active { project_id: p.id }
                } else {
                    KeyOwner::Inactive { project_id: p.id }
                };
            }
        }
        KeyOwner::Unknown
    }
}

fn new_key() -> Key {
    Key {
        public: random_hex32(),
        secret: random_hex32(),
        name: "Default".to_string(),
        active: true,
        date_created: clock::now_rfc3339(),
    }
}

fn random_hex32() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        Org::new("acme", "backend", &["frontend".into(), "payments".into()]).expect("org")
    }

    #[test]
    fn ids_start_at_one_and_are_never_reused() {
        let mut o = org();
        assert_eq!(o.project("frontend").map(|p| p.id), Some(1));
        assert_eq!(o.project("2").map(|p| p.slug.as_str()), Some("payments"));
        assert!(o.delete_project("payments").is_some());
        let id = o.create_project("payments", "payments", None).map(|p| p.id);
        assert_eq!(id, Ok(3));
    }

    #[test]
    fn create_rules() {
        let mut o = org();
        assert_eq!(
            o.create_project("frontend", "x", None).map(|p| p.id),
            Err(CreateError::SlugExists)
        );
        assert_eq!(
            o.create_project("123", "x", None).map(|p| p.id),
            Err(CreateError::InvalidSlug)
        );
        assert!(Org::new("acme", "backend", &["a".into(), "a".into()]).is_err());
        assert!(Org::new("acme", "backend", &["Bad".into()]).is_err());
    }

    #[test]
    fn keys_are_hex_and_rotate() {
        let mut o = org();
        let key = o.projects()[0].keys[0].public.clone();
        assert_eq!(key.len(), 32);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(o.key_owner(&key), KeyOwner::Active { project_id: 1 });
        let (revoked, new) = o.rotate_keys("frontend").expect("rotate");
        assert_eq!(revoked, vec![key.clone()]);
        assert_eq!(o.key_owner(&key), KeyOwner::Inactive { project_id: 1 });
        assert_eq!(o.key_owner(&new), KeyOwner::Active { project_id: 1 });
        o.delete_project("frontend");
        assert_eq!(o.key_owner(&new), KeyOwner::Unknown);
    }

    #[test]
    fn features_are_on_until_switched_off() {
        let mut o = org();
        let f = Feature::TraceMetricsIngestion;
        assert_eq!(
            Feature::from_name("organizations:tracemetrics-ingestion"),
            Some(f)
        );
        assert!(o.projects()[0].has_feature(f));
        assert!(o
            .set_feature("frontend", f, false)
            .is_some_and(|p| !p.has_feature(f)));
        assert!(o.projects()[1].has_feature(f), "other projects keep theirs");
        assert!(o
            .set_feature("frontend", f, true)
            .is_some_and(|p| p.has_feature(f)));
        assert!(o.set_feature("nope", f, true).is_none());
    }
}
