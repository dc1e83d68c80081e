//! The components a process can run.

use std::fmt;
use std::str::FromStr;

/// One runnable component. Start order is the declaration order; shutdown
/// runs in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Contacts,
    /// After contacts: its registry follows contacts' events.
    Relations,
    /// Last: it calls the others.
    Gateway,
}

impl Target {
    pub const ALL: &'static [Target] = &[Target::Contacts, Target::Relations, Target::Gateway];

    pub fn name(self) -> &'static str {
        match self {
            Target::Contacts => "contacts",
            Target::Relations => "relations",
            Target::Gateway => "gateway",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of targets: `all`, or a comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(pub Vec<Target>);

impl Default for Targets {
    fn default() -> Self {
        Targets(Target::ALL.to_vec())
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|t| t.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Targets {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let mut targets = Vec::new();
        for name in value.split(',').map(str::trim) {
            if name == "all" {
                return Ok(Targets::default());
            }
            let target = Target::ALL
                .iter()
                .copied()
                .find(|t| t.name() == name)
                .ok_or_else(|| {
                    let valid: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
                    format!(
                        "unknown target {name:?}; valid targets: all, {}",
                        valid.join(", ")
                    )
                })?;
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        targets.sort();
        Ok(Targets(targets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_lists_and_names_valid_values_on_error() {
        assert_eq!("all".parse::<Targets>(), Ok(Targets::default()));
        assert_eq!(
            "contacts".parse::<Targets>(),
            Ok(Targets(vec![Target::Contacts]))
        );
        assert_eq!(
            "contacts, contacts".parse::<Targets>(),
            Ok(Targets(vec![Target::Contacts]))
        );
        assert_eq!(
            "relations,contacts".parse::<Targets>(),
            Ok(Targets(vec![Target::Contacts, Target::Relations])),
            "in start order"
        );
        let error = "contcts".parse::<Targets>().expect_err("typo");
        assert!(
            error.contains("\"contcts\"")
                && error.contains("valid targets: all, contacts, relations, gateway"),
            "{error}"
        );
    }
}
