//! The programme as data: departments, duties, KPIs, phases and milestones, read from
//! TOML files that integrators edit without recompiling.
//!
//! The files are `departments.toml`, `duties.toml`, `kpis.toml` and `schedule.toml`
//! (see `catalog/programme/`, which is also built in). [`Programme::load`] reads them
//! from a directory when one is given, else from `programme/` under the data location
//! (each county its own), else takes the built-in ones; [`Programme::validate`] refuses
//! duplicate ids and references to unknown departments, naming the file and the id.
//! Whether each KPI's SQL plans is checked by the KPI engine, which knows the tables.

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};
use crate::submission::Period;
use crate::table_name::TableName;
use crate::tables::Catalog;

/// One department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Department {
    /// Id, e.g. `post`.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// What it reports.
    #[serde(default)]
    pub reports: String,
}

/// How often a duty is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cadence {
    /// For every month, by the 10th of the next.
    Monthly,
    /// Once by `due_on`, then whenever the facts change.
    OnChange,
}

/// One reporting duty as the programme defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutyDefinition {
    /// Duty id, e.g. `parcels`.
    pub id: String,
    /// The department owing it.
    pub department: String,
    /// The table it fills.
    pub table: String,
    /// `snapshot` or `period`.
    pub mode: String,
    /// When it is due.
    pub cadence: Cadence,
    /// On-change duties: due by this date.
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
    /// Monthly duties: the first period owed.
    #[serde(default)]
    pub first_period: Option<Period>,
    /// Monthly duties: the last period owed.
    #[serde(default)]
    pub last_period: Option<Period>,
}

/// Rows a KPI aggregates, for lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiSource {
    /// The table.
    pub table: String,
    /// A SQL condition selecting the rows used (same parameters as the KPI's SQL).
    pub filter: String,
}

/// One KPI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiDefinition {
    /// Id, e.g. `T4`.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The department that owns it.
    pub department: String,
    /// Unit: ratio, growth, person-times, m2…
    pub unit: String,
    /// Comparison with the target: `>`, `>=`, `=`, `<=`, `<`.
    pub op: String,
    /// The target.
    pub target: f64,
    /// How its monthly trend reads: `ytd`, `cumulative` or `state`.
    pub trend: String,
    /// The SQL (see `kpis.toml` for its parameters).
    pub sql: String,
    /// The rows it aggregates.
    #[serde(default)]
    pub sources: Vec<KpiSource>,
    /// The same KPI town by town, for those that have a breakdown: one row per town
    /// with `town` and `value` (and the optional columns of `sql`).
    #[serde(default)]
    pub by_town: Option<String>,
}

/// A phase of the programme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// Id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// First month.
    pub from: Period,
    /// Last month.
    pub to: Period,
}

/// A milestone, due by the end of its month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    /// Id, M1…M13.
    pub id: String,
    /// The system it belongs to.
    pub system: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Due by the end of this month.
    pub due: Period,
    /// The department reporting it.
    pub department: String,
}

#[derive(Deserialize)]
struct DepartmentsFile {
    department: Vec<Department>,
}

#[derive(Deserialize)]
struct DutiesFile {
    duty: Vec<DutyDefinition>,
}

#[derive(Deserialize)]
struct KpisFile {
    kpi: Vec<KpiDefinition>,
}

#[derive(Deserialize)]
struct ScheduleFile {
    phase: Vec<Phase>,
    milestone: Vec<Milestone>,
}

/// The programme.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Programme {
    /// Where it was read from, for messages.
    pub source: String,
    /// The departments.
    pub departments: Vec<Department>,
    /// The duties.
    pub duties: Vec<DutyDefinition>,
    /// The KPIs.
    pub kpis: Vec<KpiDefinition>,
    /// The phases.
    pub phases: Vec<Phase>,
    /// The milestones.
    pub milestones: Vec<Milestone>,
}

/// The programme files, by name.
pub const FILES: [&str; 4] = [
    "departments.toml",
    "duties.toml",
    "kpis.toml",
    "schedule.toml",
];

const BUILT_IN: [&str; 4] = [
    include_str!("../programme/departments.toml"),
    include_str!("../programme/duties.toml"),
    include_str!("../programme/kpis.toml"),
    include_str!("../programme/schedule.toml"),
];

fn invalid(file: &str, detail: impl Into<String>) -> CatalogError {
    CatalogError::InvalidProgramme {
        file: file.to_owned(),
        detail: detail.into(),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| invalid(file, crate::error::one_line(&e.to_string())))
}

impl Programme {
    /// Parses the four files' texts (in [`FILES`] order).
    pub fn parse(source: &str, texts: [&str; 4]) -> Result<Self> {
        let departments: DepartmentsFile = parse(FILES[0], texts[0])?;
        let duties: DutiesFile = parse(FILES[1], texts[1])?;
        let kpis: KpisFile = parse(FILES[2], texts[2])?;
        let schedule: ScheduleFile = parse(FILES[3], texts[3])?;
        let programme = Programme {
            source: source.to_owned(),
            departments: departments.department,
            duties: duties.duty,
            kpis: kpis.kpi,
            phases: schedule.phase,
            milestones: schedule.milestone,
        };
        programme.validate()?;
        Ok(programme)
    }

    /// The built-in programme (`catalog/programme/`).
    pub fn built_in() -> Result<Self> {
        Self::parse("built-in", BUILT_IN)
    }

    /// Reads the programme from a local directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut texts = Vec::new();
        for file in FILES {
            let path = dir.join(file);
            texts.push(
                std::fs::read_to_string(&path)
                    .map_err(|e| invalid(&path.display().to_string(), e.to_string()))?,
            );
        }
        let texts: [&str; 4] = [&texts[0], &texts[1], &texts[2], &texts[3]];
        Self::parse(&dir.display().to_string(), texts)
    }

    /// The programme of a data location: `dir` if given, else `programme/*.toml` under
    /// the data location if present there, else the built-in one.
    pub async fn load(catalog: &Catalog, dir: Option<&Path>) -> Result<Self> {
        if let Some(dir) = dir {
            return Self::from_dir(dir);
        }
        let (store, root) = catalog.root_store();
        let mut texts = Vec::new();
        for file in FILES {
            let path = root.clone().join("programme").join(file);
            match store.get(&path).await {
                Ok(found) => {
                    let bytes = found
                        .bytes()
                        .await
                        .map_err(|e| CatalogError::storage(format!("reading {path}"), e))?;
                    texts.push(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| invalid(file, "not UTF-8"))?,
                    );
                }
                Err(object_store::Error::NotFound { .. }) if texts.is_empty() => {
                    return Self::built_in();
                }
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(invalid(
                        file,
                        format!(
                            "missing from {} while the other programme files are there",
                            catalog.location().display()
                        ),
                    ));
                }
                Err(e) => return Err(CatalogError::storage(format!("reading {path}"), e)),
            }
        }
        let texts: [&str; 4] = [&texts[0], &texts[1], &texts[2], &texts[3]];
        Self::parse(&format!("{}programme/", catalog.location().root()), texts)
    }

    /// Stores the programme files of `dir` (checked first) as the data location's own
    /// (`<root>/programme/`).
    pub async fn store(catalog: &Catalog, dir: &Path) -> Result<()> {
        Self::from_dir(dir)?;
        let (store, root) = catalog.root_store();
        for file in FILES {
            let text = std::fs::read(dir.join(file))
                .map_err(|e| invalid(file, format!("cannot read it in {}: {e}", dir.display())))?;
            let path = root.clone().join("programme").join(file);
            store
                .put(&path, text.into())
                .await
                .map_err(|e| CatalogError::storage(format!("writing {path}"), e))?;
        }
        Ok(())
    }

    /// Checks ids are unique and every reference names something that exists.
    pub fn validate(&self) -> Result<()> {
        let unique = |file: &str, ids: Vec<&str>| -> Result<()> {
            let mut seen = HashSet::new();
            match ids.into_iter().find(|id| !seen.insert(*id)) {
                Some(id) => Err(invalid(file, format!("'{id}' is defined twice"))),
                None => Ok(()),
            }
        };
        unique(
            FILES[0],
            self.departments.iter().map(|d| d.id.as_str()).collect(),
        )?;
        unique(
            FILES[1],
            self.duties.iter().map(|d| d.id.as_str()).collect(),
        )?;
        unique(FILES[2], self.kpis.iter().map(|k| k.id.as_str()).collect())?;
        unique(
            FILES[3],
            self.milestones
                .iter()
                .map(|m| m.id.as_str())
                .chain(self.phases.iter().map(|p| p.id.as_str()))
                .collect(),
        )?;
        let departments: HashSet<&str> = self.departments.iter().map(|d| d.id.as_str()).collect();
        let known = |file: &str, owner: &str, department: &str| -> Result<()> {
            if departments.contains(department) {
                Ok(())
            } else {
                Err(invalid(
                    file,
                    format!("{owner} names unknown department '{department}'"),
                ))
            }
        };
        for duty in &self.duties {
            known(FILES[1], &format!("duty '{}'", duty.id), &duty.department)?;
            duty.table
                .parse::<TableName>()
                .map_err(|e| invalid(FILES[1], format!("duty '{}': {e}", duty.id)))?;
            match (
                duty.cadence,
                duty.due_on,
                duty.first_period,
                duty.last_period,
            ) {
                (Cadence::Monthly, _, Some(first), Some(last)) if first <= last => {}
                (Cadence::Monthly, ..) => {
                    return Err(invalid(
                        FILES[1],
                        format!(
                            "monthly duty '{}' needs first_period ≤ last_period",
                            duty.id
                        ),
                    ));
                }
                (Cadence::OnChange, Some(_), ..) => {}
                (Cadence::OnChange, None, ..) => {
                    return Err(invalid(
                        FILES[1],
                        format!("on-change duty '{}' needs due_on", duty.id),
                    ));
                }
            }
        }
        for kpi in &self.kpis {
            known(FILES[2], &format!("KPI '{}'", kpi.id), &kpi.department)?;
            if !["<", "<=", "=", ">=", ">"].contains(&kpi.op.as_str()) {
                return Err(invalid(
                    FILES[2],
                    format!(
                        "KPI '{}' has operator '{}' (use <, <=, =, >=, >)",
                        kpi.id, kpi.op
                    ),
                ));
            }
            if !["ytd", "cumulative", "state"].contains(&kpi.trend.as_str()) {
                return Err(invalid(
                    FILES[2],
                    format!(
                        "KPI '{}' has trend '{}' (use ytd, cumulative or state)",
                        kpi.id, kpi.trend
                    ),
                ));
            }
            for source in &kpi.sources {
                source
                    .table
                    .parse::<TableName>()
                    .map_err(|e| invalid(FILES[2], format!("KPI '{}': {e}", kpi.id)))?;
            }
        }
        for milestone in &self.milestones {
            known(
                FILES[3],
                &format!("milestone '{}'", milestone.id),
                &milestone.department,
            )?;
        }
        Ok(())
    }

    /// The department with this id.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// The duty with this id.
    pub fn duty(&self, id: &str) -> Option<&DutyDefinition> {
        self.duties.iter().find(|d| d.id == id)
    }

    /// The KPI with this id.
    pub fn kpi(&self, id: &str) -> Option<&KpiDefinition> {
        self.kpis.iter().find(|k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_programme_is_complete() {
        let programme = Programme::built_in().unwrap();
        assert_eq!(programme.departments.len(), 24);
        assert_eq!(programme.duties.len(), 13);
        assert_eq!(programme.kpis.len(), 16);
        assert_eq!(programme.milestones.len(), 13);
        assert_eq!(programme.phases.len(), 3);
    }

    #[test]
    fn bad_programmes_are_refused_naming_file_and_id() {
        let texts = BUILT_IN;
        let duties = texts[1].replacen("department = \"towns\"", "department = \"nobody\"", 1);
        let err = Programme::parse("test", [texts[0], &duties, texts[2], texts[3]])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("duties.toml")
                && err.contains("duty 'villages' names unknown department 'nobody'"),
            "{err}"
        );
        let kpis = format!(
            "{}\n{}",
            texts[2],
            &texts[2]
                [texts[2].find("[[kpi]]").unwrap()..texts[2].find("[[kpi]]\nid = \"T2\"").unwrap()]
        );
        let err = Programme::parse("test", [texts[0], texts[1], &kpis, texts[3]])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'T1' is defined twice"), "{err}");
        let err = Programme::parse("test", [texts[0], "[[duty]]\nid = 3", texts[2], texts[3]])
            .unwrap_err()
            .to_string();
        assert!(err.contains("duties.toml"), "{err}");
    }
}
