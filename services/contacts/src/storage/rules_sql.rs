// The rules that span contacts (an email held by one live person, unique
// external references and category names), checked in the append's
// transaction so that two concurrent commands cannot both pass them.
// Compiled once per backend (see projection_sql.rs).

/// One of `emails` held by a live person (other than `except`), if any.
/// The candidates come from the email index first (a materialized CTE of
/// one equality per address), then each is looked up by its id (a
/// correlated subquery, run per candidate), so the cost does not grow with
/// the address book, whatever the planner's statistics say: without
/// statistics, PostgreSQL estimates an `IN` list of 32 addresses at a sixth
/// of the table and scans all of it, and turned an `EXISTS` on the kind and
/// status into a walk of every live person's index entry.
async fn live_person_holding(
    conn: &mut Conn,
    emails: &[String],
    except: Option<&str>,
) -> Result<Option<(String, String)>, sqlx::Error> {
    // SQLite takes at most 500 parts in one compound select.
    for chunk in emails.chunks(200) {
        let taken = email_holder_query(chunk, except)
            .build_query_as()
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_some() {
            return Ok(taken);
        }
    }
    Ok(None)
}

/// The query of [`live_person_holding`] for one chunk of addresses.
pub(crate) fn email_holder_query(
    emails: &[String],
    except: Option<&str>,
) -> QueryBuilder<'static, Db> {
    let mut query = QueryBuilder::<Db>::new("WITH candidates AS MATERIALIZED (");
    for (index, email) in emails.iter().enumerate() {
        if index > 0 {
            query.push(" UNION ALL ");
        }
        query
            .push("SELECT email, contact_id FROM contact_emails WHERE email = ")
            .push_bind(email.clone());
        if let Some(except) = except {
            query
                .push(" AND contact_id != ")
                .push_bind(except.to_owned());
        }
    }
    query.push(
        ") SELECT e.email, e.contact_id FROM candidates e WHERE (SELECT c.kind || ':' || c.status \
         FROM contacts c WHERE c.id = e.contact_id) = 'person:live' LIMIT 1",
    );
    query
}

/// Rules across contacts, checked for what the event adds.
async fn check_rules(
    conn: &mut Conn,
    before: Option<&Contact>,
    after: &Contact,
    shared_email_allowed: bool,
) -> Result<(), ProjectionError> {
    let data = &after.data;
    let category_changed = before.is_none_or(|b| b.data.category_id != data.category_id);
    if category_changed && !data.category_id.is_empty() {
        let known: Option<String> = sqlx::query_scalar("SELECT id FROM categories WHERE id = $1")
            .bind(&data.category_id)
            .fetch_optional(&mut *conn)
            .await?;
        if known.is_none() {
            return Err(reject(ContactsError::UnknownCategory {
                id: data.category_id.clone(),
            }));
        }
    }

    let new_emails: Vec<String> = data
        .emails
        .iter()
        .map(|email| email_key(&email.address))
        .filter(|key| {
            before.is_none_or(|b| !b.data.emails.iter().any(|e| email_key(&e.address) == *key))
        })
        .collect();
    if after.kind == Some(Kind::Person) && !shared_email_allowed && !new_emails.is_empty() {
        let taken = live_person_holding(conn, &new_emails, Some(&after.id)).await?;
        if let Some((email, other_id)) = taken {
            return Err(reject(ContactsError::EmailTaken { email, other_id }));
        }
    }

    for reference in &data.external_refs {
        if before.is_some_and(|b| b.data.external_refs.contains(reference)) {
            continue;
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT contact_id FROM contact_external_refs WHERE source = $1 AND external_id = $2 AND contact_id != $3",
        )
        .bind(&reference.source)
        .bind(&reference.external_id)
        .bind(&after.id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(other_id) = holder {
            return Err(reject(ContactsError::ExternalRefTaken {
                source_name: reference.source.clone(),
                external_id: reference.external_id.clone(),
                other_id,
            }));
        }
    }
    Ok(())
}

async fn ensure_name_free(conn: &mut Conn, id: &str, name: &str) -> Result<(), ProjectionError> {
    let holder: Option<String> =
        sqlx::query_scalar("SELECT id FROM categories WHERE name_key = $1 AND id != $2")
            .bind(name.to_lowercase())
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match holder {
        Some(other_id) => Err(reject(ContactsError::CategoryNameTaken {
            name: name.to_owned(),
            other_id,
        })),
        None => Ok(()),
    }
}
