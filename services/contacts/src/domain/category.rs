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
    use liaison_eventstore::testing::given;

    use super::*;

    const ID: &str = "c1";

    fn created() -> Event {
        Event::Created(CategoryCreated {
            name: "Alumni".into(),
            description: String::new(),
        })
    }

    #[test]
    fn creates_renames_and_deletes() {
        let category = given::<Category>(ID, [])
            .when(Command::Create {
                name: "Alumni".into(),
                description: String::new(),
            })
            .then([created()]);
        assert!(category.exists && category.name == "Alumni");
        let existing = given::<Category>(ID, [created()]);
        existing
            .when(Command::Rename {
                name: "Alumnus".into(),
            })
            .then([Event::Renamed(CategoryRenamed {
                name: "Alumnus".into(),
            })]);
        existing
            .when(Command::Rename {
                name: "Alumni".into(),
            })
            .then_nothing();
        let deleted = existing
            .when(Command::Delete)
            .then([Event::Deleted(CategoryDeleted {})]);
        assert!(deleted.deleted);
    }

    #[test]
    fn refuses_missing_or_deleted_categories() {
        let missing = given::<Category>(ID, []).when(Command::Delete).then_err();
        assert!(matches!(missing, ContactsError::NotFound { .. }));
        let deleted = given::<Category>(ID, [created(), Event::Deleted(CategoryDeleted {})]);
        let renamed = deleted
            .when(Command::Rename { name: "x".into() })
            .then_err();
        assert!(matches!(renamed, ContactsError::NotFound { .. }));
        let twice = given::<Category>(ID, [created()])
            .when(Command::Create {
                name: "x".into(),
                description: String::new(),
            })
            .then_err();
        assert!(matches!(twice, ContactsError::FailedPrecondition(_)));
    }
}
