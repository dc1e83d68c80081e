//! Categories qualify contacts ("who": alumnus, professional, lecturer...).

use liaison_proto::contacts::v1::category_event::Event;
use liaison_proto::contacts::v1::{CategoryCreated, CategoryDeleted, CategoryRenamed};

use crate::ContactsError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Category {
    pub id: String,
    pub version: u64,
    pub name: String,
    pub description: String,
    pub exists: bool,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub enum Command {
    Create { name: String, description: String },
    Rename { name: String },
    Delete,
}

pub fn decide(category: &Category, command: Command) -> Result<Vec<Event>, ContactsError> {
    let missing = || ContactsError::NotFound {
        kind: "category",
        id: category.id.clone(),
    };
    match command {
        Command::Create { name, description } => {
            if category.exists {
                return Err(ContactsError::FailedPrecondition(format!(
                    "category {} already exists",
                    category.id
                )));
            }
            Ok(vec![Event::Created(CategoryCreated { name, description })])
        }
        Command::Rename { name } => {
            if !category.exists || category.deleted {
                return Err(missing());
            }
            if category.name == name {
                return Ok(Vec::new());
            }
            Ok(vec![Event::Renamed(CategoryRenamed { name })])
        }
        Command::Delete => {
            if !category.exists || category.deleted {
                return Err(missing());
            }
            Ok(vec![Event::Deleted(CategoryDeleted {})])
        }
    }
}

pub fn evolve(mut category: Category, event: &Event) -> Category {
    category.version += 1;
    match event {
        Event::Created(created) => {
            category.exists = true;
            category.name.clone_from(&created.name);
            category.description.clone_from(&created.description);
        }
        Event::Renamed(renamed) => category.name.clone_from(&renamed.name),
        Event::Deleted(_) => category.deleted = true,
    }
    category
}

pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::Created(_) => "category.created",
        Event::Renamed(_) => "category.renamed",
        Event::Deleted(_) => "category.deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(events: &[Event]) -> Category {
        events.iter().fold(
            Category {
                id: "c1".into(),
                ..Default::default()
            },
            evolve,
        )
    }

    fn created() -> Event {
        Event::Created(CategoryCreated {
            name: "Alumni".into(),
            description: String::new(),
        })
    }

    #[test]
    fn creates_renames_and_deletes() {
        let events = decide(
            &given(&[]),
            Command::Create {
                name: "Alumni".into(),
                description: String::new(),
            },
        )
        .expect("create");
        assert_eq!(events, vec![created()]);
        let renamed = decide(
            &given(&[created()]),
            Command::Rename {
                name: "Alumnus".into(),
            },
        )
        .expect("rename");
        assert_eq!(
            renamed,
            vec![Event::Renamed(CategoryRenamed {
                name: "Alumnus".into()
            })]
        );
        assert!(decide(
            &given(&[created()]),
            Command::Rename {
                name: "Alumni".into()
            }
        )
        .expect("same")
        .is_empty());
        assert_eq!(
            decide(&given(&[created()]), Command::Delete).expect("delete"),
            vec![Event::Deleted(CategoryDeleted {})]
        );
    }

    #[test]
    fn refuses_missing_or_deleted_categories() {
        assert!(matches!(
            decide(&given(&[]), Command::Delete),
            Err(ContactsError::NotFound { .. })
        ));
        let deleted = given(&[created(), Event::Deleted(CategoryDeleted {})]);
        assert!(matches!(
            decide(&deleted, Command::Rename { name: "x".into() }),
            Err(ContactsError::NotFound { .. })
        ));
        assert!(matches!(
            decide(
                &given(&[created()]),
                Command::Create {
                    name: "x".into(),
                    description: String::new()
                }
            ),
            Err(ContactsError::FailedPrecondition(_))
        ));
    }
}
