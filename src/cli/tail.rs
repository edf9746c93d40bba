//! `sluice tail`: prints a topic's messages as JSON lines.

use super::cluster::ClusterArgs;
use sluice::sink::kafka::TailError;

// The arguments of `sluice tail`.
#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// Topic, e.g. `quickstart.models`.
    topic: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Start at the beginning instead of the end.
    #[arg(long)]
    from_beginning: bool,
    /// Keep waiting for new messages (otherwise stop at the end offsets seen at start).
    #[arg(long)]
    follow: bool,
}

/// Prints the topic's messages to stdout.
pub fn run(args: TailArgs) -> anyhow::Result<()> {
    let opts = sluice::sink::kafka::TailOptions {
        cluster: args.cluster.cluster()?,
        topic: args.topic,
        from_beginning: args.from_beginning,
        follow: args.follow,
    };
    let stdout = std::io::stdout();
    match sluice::sink::kafka::tail(&opts, &mut stdout.lock()) {
        // A closed pipe (`sluice tail … | head`) is the reader's choice, not a failure.
        Err(TailError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}
