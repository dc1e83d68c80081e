//! `make bench`: runs the workloads of BENCHMARKS.md against the release
//! binary, beside the ceilings of this machine measured in the same run, and
//! prints one table.

mod ceiling;
mod distributed;
mod gateway;
mod load;
mod process;
mod relations;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use liaison_proto::contacts::v1 as pb;
use liaison_proto::contacts::v1::contact_service_client::ContactServiceClient;
use tonic::transport::Channel;

use load::Stats;
use process::Server;

/// Alternating ceiling and service rounds per client count.
const ROUNDS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    All,
    Embedded,
    Distributed,
    Relations,
    Gateway,
}

#[derive(Parser)]
#[command(about = "Liaison benchmarks beside the machine's ceilings")]
struct Args {
    /// The liaison binary to measure (a release build).
    #[arg(long)]
    liaison: Option<PathBuf>,
    /// Seconds per throughput or latency measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Persons in the database for the read workloads.
    #[arg(long, default_value_t = 100_000)]
    persons: u64,
    /// PostgreSQL server of the distributed workloads (they use schemas of
    /// their own and drop them).
    #[arg(
        long,
        env = "LIAISON_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Entities of the relations graph.
    #[arg(long, default_value_t = 100_000)]
    graph_entities: u64,
    /// Relations of the relations graph.
    #[arg(long, default_value_t = 1_000_000)]
    graph_relations: u64,
    /// Which workloads to run.
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the ceiling (used by the benchmark itself).
    CeilingServer {
        #[arg(long)]
        database: PathBuf,
        #[arg(long)]
        addr: SocketAddr,
    },
    /// Serve the PostgreSQL ceiling (used by the benchmark itself).
    CeilingPostgresServer {
        #[arg(long)]
        url: String,
        #[arg(long)]
        schema: String,
        #[arg(long)]
        addr: SocketAddr,
    },
    /// Creates persons (or ceiling appends) on a running server, for
    /// profiling it by hand.
    Load {
        /// gRPC URL of the contacts service, e.g. http://127.0.0.1:50051
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// The server at `url` is a ceiling server: send it its appends.
        #[arg(long)]
        ceiling: bool,
    },
    /// Creates persons in-process, without gRPC: the store's own throughput.
    Direct {
        #[arg(long, default_value_t = 32)]
        tasks: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Command::CeilingServer { database, addr }) => {
            return ceiling::serve(&database, addr).await
        }
        Some(Command::CeilingPostgresServer { url, schema, addr }) => {
            return ceiling::serve_postgres(&url, &schema, addr).await
        }
        Some(Command::Load {
            url,
            clients,
            ceiling,
        }) => {
            let server = Server::remote(&url);
            let duration = Duration::from_secs(args.seconds);
            let run = rand::random::<u32>() as u64 * 1_000;
            let stats = if ceiling {
                ceiling_load(&server, clients, duration, run).await?
            } else {
                create_load(&server, clients, duration, "", run).await?
            };
            println!(
                "{clients} clients: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                stats.throughput(),
                stats.p50_ms(),
                stats.p99_ms(),
                stats.errors
            );
            return Ok(());
        }
        Some(Command::Direct { tasks }) => {
            return direct(tasks, Duration::from_secs(args.seconds)).await
        }
        None => {}
    }
    let liaison = args
        .liaison
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--liaison PATH is required"))?;
    let duration = Duration::from_secs(args.seconds);
    let mut out = String::new();
    if matches!(args.part, Part::All | Part::Embedded) {
        out.push_str("## Embedded: one process, SQLite, embedded bus\n\n");
        out.push_str(&embedded(&liaison, duration, args.persons).await?);
    }
    if matches!(args.part, Part::All | Part::Relations) {
        out.push_str("\n## Relations: embedded mode, SQLite\n\n");
        let graph = relations::Graph {
            entities: args.graph_entities,
            relations: args.graph_relations,
        };
        out.push_str(&relations::run(&liaison, duration, graph).await?);
    }
    if matches!(args.part, Part::All | Part::Gateway) {
        out.push_str("\n## Gateway: embedded mode, HTTP under wrk\n\n");
        out.push_str(&gateway::run(&liaison, duration, args.persons).await?);
    }
    if matches!(args.part, Part::All | Part::Distributed) {
        out.push_str(
            "\n## Distributed: contacts in its own process, PostgreSQL, NATS JetStream\n\n",
        );
        out.push_str(&distributed::run(&liaison, duration, &args.postgres_url).await?);
    }
    println!("{out}");
    std::fs::create_dir_all("bench-results")?;
    std::fs::write("bench-results/latest.md", &out)?;
    Ok(())
}

/// The embedded mode's workloads; returns their section of the report.
async fn embedded(
    liaison: &std::path::Path,
    duration: Duration,
    persons: u64,
) -> anyhow::Result<String> {
    let work = tempfile::tempdir()?;
    let mut table = Table::default();

    // (a) and (b), interleaved: this machine is shared, so each ratio compares
    // rounds measured one right after the other, and the median is reported.
    let ceiling = Server::ceiling(&work.path().join("ceiling.sqlite")).await?;
    // (d) Start-up on an empty data dir, and idle memory.
    let data = work.path().join("data");
    let (service, startup_fresh) = Server::liaison(liaison, &data).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = service.rss_mib()?;
    let category = create_category(&service).await?;
    let mut ratios = Vec::new();
    for clients in [1, 32] {
        let (ceiling_all, create_all, round_ratios) =
            interleaved_rounds(&ceiling, &service, clients, duration, &category).await?;
        let median = round_ratios[round_ratios.len() / 2];
        table.row(
            "(a) ceiling: tonic + 1 SQLite append/tx",
            &ceiling_all,
            None,
        );
        table.row("(b) CreatePerson", &create_all, Some(median));
        ratios.push((clients, median, round_ratios));
    }
    drop(ceiling);

    // (c) Reads over the full address book.
    let seeded = seed(&service, persons, &category).await?;
    let get = get_load(&service, duration, seeded).await?;
    let list = list_load(&service, duration, &category).await?;
    table.row(&format!("(c) GetPerson, {} persons", persons), &get, None);
    table.row(
        &format!(
            "(c) ListPersons category+tag filter, page 50, {} persons",
            persons
        ),
        &list,
        None,
    );
    let loaded_rss = service.rss_mib()?;
    drop(service);
    let (restarted, startup_full) = Server::liaison(liaison, &data).await?;
    drop(restarted);

    let mut out = table.render();
    let _ = writeln!(out);
    let _ = writeln!(out, "| (d) start-up | value |");
    let _ = writeln!(out, "| --- | --- |");
    let _ = writeln!(
        out,
        "| start to SERVING, empty data dir | {:.0} ms |",
        startup_fresh.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "| start to SERVING, {} persons | {:.0} ms |",
        persons,
        startup_full.as_secs_f64() * 1e3
    );
    let _ = writeln!(out, "| idle RSS after start | {idle_rss:.1} MiB |");
    let _ = writeln!(
        out,
        "| RSS after the read workloads | {loaded_rss:.1} MiB |"
    );
    let _ = writeln!(out);
    for (clients, median, rounds) in &ratios {
        let goal = if *clients == 1 { 0.5 } else { 1.5 };
        let rounds: Vec<String> = rounds.iter().map(|r| format!("{r:.2}")).collect();
        let _ = writeln!(
            out,
            "CreatePerson/ceiling at {clients} client(s): median {median:.2} (goal >= {goal}), rounds {}.",
            rounds.join(", ")
        );
    }
    Ok(out)
}

/// The ceiling and `CreatePerson` in alternating rounds at `clients`: both
/// merged, and the sorted per-round ratios (each against the ceiling round
/// just before it, on this shared machine).
pub(crate) async fn interleaved_rounds(
    ceiling: &Server,
    service: &Server,
    clients: usize,
    duration: Duration,
    category: &str,
) -> anyhow::Result<(Stats, Stats, Vec<f64>)> {
    interleaved_with(ceiling, clients, duration, |run| {
        create_load(service, clients, duration, category, run)
    })
    .await
}

/// The ceiling and a workload of the service (`service_load(run)`) in
/// alternating rounds at `clients`, as [`interleaved_rounds`].
pub(crate) async fn interleaved_with<F, Fut>(
    ceiling: &Server,
    clients: usize,
    duration: Duration,
    service_load: F,
) -> anyhow::Result<(Stats, Stats, Vec<f64>)>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Stats>>,
{
    let mut ceiling_rounds = Vec::new();
    let mut create_rounds = Vec::new();
    for round in 0..ROUNDS {
        // Each run gets its own range of numbers: no stream id or email repeats.
        let run = (clients * ROUNDS + round) as u64 * 10_000_000;
        ceiling_rounds.push(ceiling_load(ceiling, clients, duration, run).await?);
        create_rounds.push(service_load(run).await?);
    }
    let mut ratios: Vec<f64> = ceiling_rounds
        .iter()
        .zip(&create_rounds)
        .map(|(ceiling, create)| create.throughput() / ceiling.throughput())
        .collect();
    ratios.sort_by(f64::total_cmp);
    Ok((
        Stats::merge(ceiling_rounds)?,
        Stats::merge(create_rounds)?,
        ratios,
    ))
}

#[derive(Default)]
pub(crate) struct Table {
    rows: Vec<String>,
}

impl Table {
    /// `ratio`: the median throughput ratio to the ceiling, when there is one.
    pub(crate) fn row(&mut self, workload: &str, stats: &Stats, ratio: Option<f64>) {
        let ratio = ratio
            .map(|r| format!("{r:.2}x (median)"))
            .unwrap_or_else(|| "-".into());
        self.rows.push(format!(
            "| {workload} | {} | {:.0}/s | {:.2} | {:.2} | {ratio} | {} |",
            stats.clients,
            stats.throughput(),
            stats.p50_ms(),
            stats.p99_ms(),
            stats.errors
        ));
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::from(
            "| workload | clients | throughput | p50 ms | p99 ms | vs ceiling | errors |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for row in &self.rows {
            out.push_str(row);
            out.push('\n');
        }
        out
    }
}

pub(crate) async fn connect(server: &Server) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(server.url())?.connect().await?)
}

pub(crate) async fn ceiling_load(
    server: &Server,
    clients: usize,
    duration: Duration,
    run: u64,
) -> anyhow::Result<Stats> {
    let payload = vec![7u8; 160];
    load::run(
        clients,
        duration,
        |_| async {
            Ok(ceiling::pb::ceiling_client::CeilingClient::new(
                connect(server).await?,
            ))
        },
        move |client, n| {
            let mut client = client.clone();
            let request = ceiling::pb::AppendRequest {
                stream_id: format!("s-{}", run + n),
                payload: payload.clone(),
            };
            async move {
                match client.append(request).await {
                    Ok(_) => true,
                    Err(status) => {
                        report_first_error("ceiling", &status);
                        false
                    }
                }
            }
        },
    )
    .await
}

pub(crate) fn person(n: u64, category: &str) -> pb::CreatePersonRequest {
    pb::CreatePersonRequest {
        given_name: format!("Given{n}"),
        family_name: format!("Family{}", n % 9_973),
        emails: vec![pb::Email {
            address: format!("person{n}@example.org"),
            ..Default::default()
        }],
        // +33 6 12: a block of French mobiles (not every +33 6 prefix is
        // valid: 06 96 belongs to the overseas departments).
        phones: vec![pb::Phone {
            number: format!("+33612{:06}", n % 1_000_000),
            ..Default::default()
        }],
        tags: if n.is_multiple_of(3) {
            vec!["newsletter".into()]
        } else {
            Vec::new()
        },
        category_id: if n.is_multiple_of(10) {
            category.to_owned()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

pub(crate) async fn create_category(server: &Server) -> anyhow::Result<String> {
    let mut client = ContactServiceClient::new(connect(server).await?);
    let category = client
        .create_category(pb::CreateCategoryRequest {
            name: "Alumni".into(),
            description: String::new(),
        })
        .await?
        .into_inner();
    Ok(category.id)
}

pub(crate) async fn create_load(
    server: &Server,
    clients: usize,
    duration: Duration,
    category: &str,
    run: u64,
) -> anyhow::Result<Stats> {
    let category = category.to_owned();
    load::run(
        clients,
        duration,
        |_| async { Ok(ContactServiceClient::new(connect(server).await?)) },
        move |client, n| {
            let mut client = client.clone();
            let request = person(run + n, &category);
            async move {
                match client.create_person(request).await {
                    Ok(_) => true,
                    Err(status) => {
                        report_first_error("create person", &status);
                        false
                    }
                }
            }
        },
    )
    .await
}

/// Tops the address book up to `total` persons; returns ids to read back.
pub(crate) async fn seed(
    server: &Server,
    total: u64,
    category: &str,
) -> anyhow::Result<Vec<String>> {
    let mut client = ContactServiceClient::new(connect(server).await?);
    let present = client
        .list_persons(pb::ListContactsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner()
        .total_count;
    let missing = total.saturating_sub(present);
    let mut tasks = Vec::new();
    for worker in 0..32u64 {
        let mut client = ContactServiceClient::new(connect(server).await?);
        let category = category.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < missing {
                client
                    .create_person(person(1_000_000_000 + n, &category))
                    .await?;
                n += 32;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    // Ids spread over the whole book, newest first.
    let mut ids = Vec::new();
    let mut token = String::new();
    for _ in 0..4 {
        let page = client
            .list_persons(pb::ListContactsRequest {
                page_size: 500,
                page_token: token.clone(),
                sort: pb::ContactSort::CreatedAt as i32,
                descending: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        ids.extend(page.persons.into_iter().map(|p| p.id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    anyhow::ensure!(!ids.is_empty(), "no persons to read back");
    Ok(ids)
}

async fn get_load(server: &Server, duration: Duration, ids: Vec<String>) -> anyhow::Result<Stats> {
    let ids = std::sync::Arc::new(ids);
    load::run(
        1,
        duration,
        |_| async { Ok(ContactServiceClient::new(connect(server).await?)) },
        move |client, n| {
            let mut client = client.clone();
            let id = ids[(n as usize * 7_919) % ids.len()].clone();
            async move {
                client
                    .get_person(pb::GetContactRequest { id })
                    .await
                    .is_ok()
            }
        },
    )
    .await
}

async fn list_load(server: &Server, duration: Duration, category: &str) -> anyhow::Result<Stats> {
    let category = category.to_owned();
    load::run(
        1,
        duration,
        |_| async { Ok(ContactServiceClient::new(connect(server).await?)) },
        move |client, _| {
            let mut client = client.clone();
            let request = pb::ListContactsRequest {
                category_id: category.clone(),
                tags: vec!["newsletter".into()],
                page_size: 50,
                ..Default::default()
            };
            async move {
                client
                    .list_persons(request)
                    .await
                    .is_ok_and(|r| !r.into_inner().persons.is_empty())
            }
        },
    )
    .await
}

/// The contacts application without gRPC, to tell the store's cost from the transport's.
async fn direct(tasks: usize, duration: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("contacts.sqlite").display());
    let service = liaison_contacts::ContactsService::open(&url, None).await?;
    let app = service.app().clone();
    let stats = load::run(
        tasks,
        duration,
        |_| {
            let app = app.clone();
            async move { Ok(app) }
        },
        |app, n| {
            let app = app.clone();
            async move {
                let request = person(n, "");
                let data = pb::ContactData {
                    given_name: request.given_name,
                    family_name: request.family_name,
                    emails: request.emails,
                    phones: request.phones,
                    tags: request.tags,
                    ..Default::default()
                };
                let context = liaison_contacts::app::RequestContext::default();
                app.create(
                    liaison_contacts::domain::contact::Kind::Person,
                    data,
                    false,
                    &context,
                )
                .await
                .is_ok()
            }
        },
    )
    .await?;
    println!(
        "direct creates, {tasks} tasks: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        stats.throughput(),
        stats.p50_ms(),
        stats.p99_ms(),
        stats.errors
    );
    Ok(())
}

/// A scratch dir and, inside it, the data dir of a workload. With
/// `LIAISON_BENCH_KEEP` set the data stays after the run (for profiling by
/// hand); the scratch dir returned is then a fresh one inside it.
pub(crate) fn work_dirs() -> anyhow::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let work = tempfile::tempdir()?;
    let data = work.path().join("data");
    if std::env::var_os("LIAISON_BENCH_KEEP").is_none() {
        return Ok((work, data));
    }
    let kept = work.keep();
    eprintln!("bench: keeping {}", kept.display());
    Ok((tempfile::TempDir::with_prefix_in("scratch", &kept)?, data))
}

/// Says on stderr what the benchmark is doing (runs are long).
pub(crate) fn progress(stage: &str) {
    eprintln!("bench: {stage}");
}

/// Prints the first failure of a workload, so a count of errors has a cause.
fn report_first_error(workload: &str, status: &tonic::Status) {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| eprintln!("{workload}: first error: {status}"));
}
