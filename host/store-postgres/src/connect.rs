//! Where the server is and how Baton talks to it: parsing the store's address (a
//! `postgres://` URL or a `key=value` connection string), the name errors show (the address
//! without its password), connecting with Baton's defaults, and [`Conn`], one connection with
//! its cache of prepared statements. Every statement goes through [`Conn`], so every error
//! names the server.
//!
//! Connections are not encrypted (`NoTls`): use a unix socket or a trusted network. An
//! address asking for `sslmode=require` is refused when connecting.

use anyhow::{Context, Result, anyhow};
use baton_core::store::Durability;
use postgres::config::Host;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row, Statement};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long connecting may take unless the address sets `connect_timeout` (10 seconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `application_name` the server shows for Baton's connections unless the address sets one.
pub const APPLICATION_NAME: &str = "baton";

/// Parameters of one statement.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A parsed server address and its printable name.
#[derive(Clone)]
pub struct Target {
    config: Config,
    name: Arc<str>,
}

impl Target {
    /// Parses `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB?...` or `host=... dbname=...`).
    /// The error does not repeat the address, which may hold a password.
    pub fn parse(url: &str) -> Result<Target> {
        let mut config: Config = url.parse().map_err(|e| {
            anyhow!(
                "the store address is not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE) \
                 or connection string: {e}"
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let name = display_name(&config).into();
        Ok(Target { config, name })
    }

    /// This address with `synchronous_commit` set for its sessions as `durability` says
    /// (`on` for full, `off` for normal), unless its `options` already set it: an explicit
    /// setting in the URL wins.
    pub fn with_durability(mut self, durability: Durability) -> Target {
        let current = self.config.get_options().unwrap_or_default().to_string();
        if !current.contains("synchronous_commit") {
            let value = match durability {
                Durability::Normal => "off",
                Durability::Full => "on",
            };
            let options = format!("{current} -c synchronous_commit={value}");
            self.config.options(options.trim_start());
        }
        self
    }

    /// The address without its password, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens a connection; a refused one says how to start or point at a server.
    pub fn connect(&self) -> Result<Conn> {
        let client = off_runtime(|| self.config.connect(NoTls)).map_err(|e| {
            let cause = anyhow::Error::new(e);
            if unreachable(&cause) {
                cause.context(format!(
                    "cannot connect to the PostgreSQL server at {}: nothing answers there. Start \
                     it (Debian: `pg_ctlcluster VERSION main start`, or `systemctl start \
                     postgresql`) or point store.db at a running server \
                     (postgres://USER@HOST:PORT/DATABASE)",
                    self.name
                ))
            } else {
                cause.context(format!(
                    "cannot connect to the PostgreSQL server at {}",
                    self.name
                ))
            }
        })?;
        Ok(Conn {
            client: Some(client),
            statements: HashMap::new(),
            server: self.name.clone(),
        })
    }
}

/// Runs `work`, which uses the sync client, where it may block. The sync client drives its
/// connection with a runtime of its own on the calling thread, which it cannot do on a
/// thread that already runs Baton's async code: there, `work` runs on a scoped thread of
/// its own (the writer and the listener, which do most of the work, run on plain threads
/// and pay nothing).
pub(crate) fn off_runtime<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if tokio::runtime::Handle::try_current().is_err() {
        return work();
    }
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(reply) => reply,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Whether connecting failed because no server listens there (refused, no socket file).
fn unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            )
        })
    })
}

/// `postgres://USER@HOST:PORT/DATABASE` (unix sockets: `?host=DIR`), never the password.
fn display_name(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    let ports = config.get_ports();
    let mut tcp = Vec::new();
    let mut sockets = Vec::new();
    for (i, host) in config.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first());
        match host {
            Host::Tcp(name) => tcp.push(match port {
                Some(port) => format!("{name}:{port}"),
                None => name.clone(),
            }),
            Host::Unix(dir) => sockets.push(dir.display().to_string()),
        }
    }
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let mut name = format!("postgres://{at}{}/{db}", tcp.join(","));
    if !sockets.is_empty() {
        name.push_str(&format!("?host={}", sockets.join(",")));
    }
    name
}

/// One connection and its prepared statements (each SQL text is prepared once per
/// connection, so a statement costs one round trip).
pub struct Conn {
    /// Always there until the connection is dropped (see `Drop`).
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
    server: Arc<str>,
}

impl Conn {
    /// The server's printable address.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Runs `work` on the client itself, for what statements do not cover
    /// (notifications), where it may block (see `off_runtime`).
    pub fn with_client<R: Send>(
        &mut self,
        work: impl FnOnce(&mut Client) -> R + Send,
    ) -> Result<R> {
        let client = self.live()?;
        Ok(off_runtime(|| work(client)))
    }

    fn live(&mut self) -> Result<&mut Client> {
        self.client
            .as_mut()
            .ok_or_else(|| anyhow!("the connection to {} is closed", self.server))
    }

    /// Whether the connection is gone (the server closed it or the network failed).
    pub fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    fn fail(&self, error: postgres::Error) -> anyhow::Error {
        anyhow::Error::new(error).context(format!("PostgreSQL at {}", self.server))
    }

    fn prepared(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let client = self.live()?;
        let statement = off_runtime(|| client.prepare(sql)).map_err(|e| self.fail(e))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Runs a statement and returns its rows.
    pub fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let statement = self.prepared(sql)?;
        let client = self.live()?;
        let rows = off_runtime(|| client.query(&statement, params));
        rows.map_err(|e| self.fail(e))
    }

    /// Runs a statement returning at most one row.
    pub fn opt(&mut self, sql: &'static str, params: Params<'_>) -> Result<Option<Row>> {
        let statement = self.prepared(sql)?;
        let client = self.live()?;
        let row = off_runtime(|| client.query_opt(&statement, params));
        row.map_err(|e| self.fail(e))
    }

    /// Runs a statement returning exactly one row.
    pub fn one(&mut self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        let statement = self.prepared(sql)?;
        let client = self.live()?;
        let row = off_runtime(|| client.query_one(&statement, params));
        row.map_err(|e| self.fail(e))
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn exec(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let statement = self.prepared(sql)?;
        let client = self.live()?;
        let changed = off_runtime(|| client.execute(&statement, params));
        changed.map_err(|e| self.fail(e))
    }

    /// Runs statements without parameters (`BEGIN`, `COMMIT`, a migration) in one round trip.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        let client = self.live()?;
        let done = off_runtime(|| client.batch_execute(sql));
        done.map_err(|e| self.fail(e))
    }

    /// Runs `work` in a transaction: committed if it succeeds, rolled back if it fails.
    pub fn in_transaction<R>(&mut self, work: impl FnOnce(&mut Conn) -> Result<R>) -> Result<R> {
        self.batch("BEGIN")?;
        match work(self) {
            Ok(reply) => {
                self.batch("COMMIT")
                    .with_context(|| format!("cannot commit to {}", self.server))?;
                Ok(reply)
            }
            Err(error) => {
                let _ = self.batch("ROLLBACK");
                Err(error)
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Closing the client blocks on its runtime: not on a thread that runs async code.
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("baton-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// A column of `row`, with an error naming it (never a panic on what the server sent).
pub fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    row.try_get(index)
        .with_context(|| format!("unexpected value in column {index} from the store"))
}

/// A stored count (attempts, recoveries) as the model's `u32`.
pub fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn the_printable_address_has_no_password() {
        let target = Target::parse("postgres://baton:s3cret@db.example:6543/queue").unwrap();
        assert_eq!(target.name(), "postgres://baton@db.example:6543/queue");
        let target = Target::parse("host=/run/pg user=u password=s3cret dbname=d").unwrap();
        assert_eq!(target.name(), "postgres://u@/d?host=/run/pg");
        let error = Target::parse("postgres://u:s3cret@h:notaport/d")
            .err()
            .unwrap()
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }
}
