//! The command line: subcommands and their flags (clap). Doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ijkonet", version, about = "Learn population dynamics from snapshots (iJKOnet on libtorch)")]
pub struct Cli {
    /// Compute device: auto (CUDA when present), cpu or cuda:N.
    #[arg(long, global = true)]
    pub device: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Simulate a synthetic SDE (known potential / interaction) and write its snapshots as .npz,
    /// with the ground truth in a `<OUTPUT>.truth.txt` sidecar.
    Generate(GenerateArgs),
    /// Train iJKOnet on snapshots and write the model (.safetensors) and its training history.
    Train(TrainArgs),
    /// Predict a later population from points observed at one of the model's times (.npy in, .npy out).
    Predict(PredictArgs),
    /// Simulate the learned SDE from initial points and write the trajectory as .npz snapshots.
    Simulate(SimulateArgs),
    /// Per-step metrics of the model's one-step predictions on snapshot data.
    Eval(EvalArgs),
    /// PNG figures: learned vs true potential, data vs predicted snapshots, training curves.
    Plot(PlotArgs),
    /// What a saved model is: method, energy terms, dimension, times, training, normalisation and
    /// the naive predictions it stores.
    Info(InfoArgs),
    /// The learned potential V(x, t) at points (.npy or .csv, n × d): n values.
    Potential(QueryArgs),
    /// The learned gradient ∇V(x, t) at points (the drift is −∇V): n × d values.
    Grad(QueryArgs),
}

#[derive(Args)]
pub struct InfoArgs {
    pub model: PathBuf,
}

#[derive(Args)]
pub struct QueryArgs {
    pub model: PathBuf,
    /// Points, n × d: .npy, or .csv with d numeric columns (a header line is skipped).
    pub points: PathBuf,
    /// Time t of the query (matters for time-dependent potentials, `t,V`); default: the first
    /// snapshot time.
    #[arg(long)]
    pub time: Option<f64>,
    /// Write the result as .npy (n, or n × d) or .csv; default: CSV on standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Potential V (one of the 15 benchmark names, or none).
    #[arg(long, default_value = "wavy_plateau")]
    pub potential: String,
    /// Interaction kernel W (a benchmark name; default: no interaction).
    #[arg(long)]
    pub interaction: Option<String>,
    /// Symmetrise the interaction kernel, W_s(z) = ½(W(z) + W(−z)).
    #[arg(long, requires = "interaction")]
    pub symmetrised: bool,
    /// Diffusion coefficient β ≥ 0 (noise √(2β dt) per step).
    #[arg(long, default_value_t = 0.0)]
    pub beta: f64,
    /// Time step; snapshot k is at time k·dt.
    #[arg(long, default_value_t = 0.01)]
    pub dt: f64,
    /// Number of steps T (T + 1 snapshots).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Particles per snapshot.
    #[arg(long, default_value_t = 2000)]
    pub particles: usize,
    /// Dimension.
    #[arg(long, default_value_t = 2)]
    pub dim: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One population followed through time (default: an independent population per snapshot).
    #[arg(long)]
    pub paired: bool,
    /// Output .npz file.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Where snapshot data come from.
#[derive(Args)]
pub struct DataArgs {
    /// Snapshot data: .npz (data, labels[, times]), .npy (with --labels), .csv (one row per point)
    /// or AnnData .h5ad (with --time-key).
    pub data: PathBuf,
    /// Per-row time labels (.npy) for a .npy data matrix.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// CSV column holding the time label: a header name or a zero-based index (default: the last).
    #[arg(long)]
    pub label_column: Option<String>,
    /// .h5ad: the obs column holding each cell's time (numeric, or categorical with numeric labels).
    #[arg(long, value_name = "COLUMN")]
    pub time_key: Option<String>,
    /// .h5ad: read the points from obsm[KEY] (e.g. X_pca) instead of X.
    #[arg(long, value_name = "KEY")]
    pub obsm: Option<String>,
    /// .h5ad: read the points from layers[NAME] instead of X.
    #[arg(long, value_name = "NAME", conflicts_with = "obsm")]
    pub layer: Option<String>,
    /// .h5ad: times of a label column's values, e.g. day2=2,day10=10 (for non-numeric labels).
    #[arg(long, value_name = "LABEL=TIME,...")]
    pub time_values: Option<String>,
}

/// An optional per-snapshot random split of the data.
#[derive(Args)]
pub struct SplitArgs {
    /// Fraction of each snapshot held out (0 = use everything).
    #[arg(long, default_value_t = 0.0)]
    pub test_fraction: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Output model file (.safetensors); the per-epoch history goes to `<OUTPUT>.history.csv`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Learning method: ijkonet (default), jkonet_star, jkonet_star_linear or jkonet.
    #[arg(long)]
    pub method: Option<String>,
    /// Energy variant, e.g. V, V+W, V+W+U, t,V.
    #[arg(long)]
    pub variant: Option<String>,
    /// Training length in epochs (default: automatic, early stopping on validation cells).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Wall-clock budget in seconds (training keeps the best validated parameters).
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Any training option as key=value (repeatable); see `TrainConfig::keys()`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Fraction of each snapshot held out for the final evaluation (0 = train on everything).
    #[arg(long, default_value_t = 0.4)]
    pub test_fraction: f64,
    /// Seed of the split and of training (a later --set seed=… overrides the training seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Evaluate the held-out one-step W1 every N epochs during training (0 = only at the end).
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
}

#[derive(Args)]
pub struct PredictArgs {
    pub model: PathBuf,
    /// Points observed at the model's time t_k (.npy, n × d).
    #[arg(long)]
    pub input: PathBuf,
    /// Index k of the observed time of the input points.
    #[arg(long)]
    pub from_step: usize,
    /// Chain this many learned steps (default 1).
    #[arg(long, conflicts_with = "to_time")]
    pub steps: Option<usize>,
    /// Predict at this time instead (a JKO step with the learned energy when it is not an observed time).
    #[arg(long)]
    pub to_time: Option<f64>,
    /// Iterations of the JKO step solved for an unobserved target time.
    #[arg(long, default_value_t = 500)]
    pub jko_iterations: usize,
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct SimulateArgs {
    pub model: PathBuf,
    /// Initial points (.npy, n × d).
    #[arg(long)]
    pub input: PathBuf,
    /// Start time (default: the model's first time).
    #[arg(long)]
    pub t0: Option<f64>,
    /// Euler–Maruyama time step.
    #[arg(long)]
    pub dt: f64,
    #[arg(long)]
    pub steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output trajectory (.npz snapshots at t0 + s·dt).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct EvalArgs {
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PlotArgs {
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Output directory (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Grid points per axis of the potential plot.
    #[arg(long, default_value_t = 80)]
    pub grid: usize,
}
