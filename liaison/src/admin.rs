//! `liaison admin`: tools that work on a service's database directly.

use std::io::BufRead;

use anyhow::Context;
use liaison_gateway::GatewaySettings;
use liaison_runtime::settings::mask_url_password;
use liaison_runtime::Settings;

use crate::cli::CreateUserArgs;
use crate::services;
use crate::target::Targets;

/// Rebuilds the read models of `targets` from their logs.
pub async fn rebuild(settings: &Settings, targets: &Targets) -> anyhow::Result<()> {
    let _lock = if crate::serve::uses_data_dir(settings, targets)? {
        Some(crate::serve::lock_data_dir(&settings.data_dir)?)
    } else {
        None
    };
    for target in &targets.0 {
        let entry = services::entry(*target);
        let url = entry.database_url(settings)?;
        let opened = entry.open(settings).await?;
        let replayed =
            opened.store.rebuild_projections().await.with_context(|| {
                format!("rebuild of {target} ({}) failed", mask_url_password(&url))
            })?;
        println!("{target}: read models rebuilt from {replayed} events");
        opened.store.close().await;
    }
    Ok(())
}

/// Checks that `targets` can run as one process of a distributed
/// deployment with these settings (what `deploy/validate.sh` asks of every
/// process of the compose file and the Kubernetes manifests).
pub fn check_deployment(settings: &Settings, targets: &Targets) -> anyhow::Result<()> {
    let problems = services::deployment_problems(settings, &targets.0)?;
    if problems.is_empty() {
        println!("{targets}: ready to run as a process of a deployment");
        return Ok(());
    }
    anyhow::bail!("{targets} cannot run so:\n- {}", problems.join("\n- "))
}

/// Creates a user in the gateway's database.
pub async fn create_user(settings: &Settings, args: CreateUserArgs) -> anyhow::Result<()> {
    let role = liaison_gateway::accounts::user::Role::parse(&args.role)
        .with_context(|| format!("--role {:?}: use admin, staff or customer", args.role))?;
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), None)
    } else {
        let password = liaison_gateway::accounts::credentials::new_secret();
        (password.clone(), Some(password))
    };
    let (url, schema) = settings.storage(liaison_gateway::SERVICE)?;
    let _lock = if url.starts_with("sqlite:") {
        Some(crate::serve::lock_data_dir(&settings.data_dir)?)
    } else {
        None
    };
    let gateway: GatewaySettings = settings.service(liaison_gateway::SERVICE)?;
    let service = liaison_gateway::GatewayService::open(
        &url,
        schema,
        &gateway.auth,
        crate::services::gateway::device_key(settings),
    )
    .await
    .with_context(|| format!("cannot open {}", mask_url_password(&url)))?;
    let user = service
        .accounts()
        .create_user(
            "system:admin-cli",
            liaison_gateway::accounts::NewUser {
                display_name: args.name.clone().unwrap_or_else(|| args.email.clone()),
                email: args.email,
                role,
                password,
            },
        )
        .await;
    service.store().close().await;
    let user = user.map_err(|error| anyhow::anyhow!("cannot create the user: {error}"))?;
    println!(
        "created {} {} ({})",
        user.role.as_str(),
        user.email,
        user.id
    );
    if let Some(password) = generated {
        // Shown here only, once: the database keeps its hash.
        println!("password: {password}");
    }
    Ok(())
}
