//! `ijkonet`: the command-line tool. Generate synthetic snapshot data, train iJKOnet on snapshots,
//! predict, simulate, evaluate and plot a trained model. Every failure is one `error: …` line on
//! stderr and a non-zero exit status (1 for a failed command, 2 for a bad command line).

use clap::{Args, Parser, Subcommand};
use ijkonet::baselines::Baseline;
use ijkonet::data::h5ad::parse_time_values;
use ijkonet::data::{
    read_csv, read_h5ad, read_labelled_npy, read_npy_matrix, read_npz, write_npz, CsvOptions, H5adOptions, LabelColumn,
    Matrix,
};
use ijkonet::methods::{self, Progress};
use ijkonet::metrics::{
    bures::bw_uvp,
    mmd, ot,
    uvp::{l2_uvp, mean_cosine, relative_l2_error},
};
use ijkonet::model::JkoStepOptions;
use ijkonet::plot::{self, Cloud, Grid, Series};
use ijkonet::synth::{generate, GroundTruth, Interaction, Pairing, Potential, SdeConfig};
use ijkonet::{DeviceSpec, Error, Model, Result, Snapshots, TrainConfig};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Axis};
use plotters::style::{BLUE, RED};
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "ijkonet", version, about = "Learn population dynamics from snapshots (iJKOnet on libtorch)")]
struct Cli {
    /// Compute device: auto (CUDA when present), cpu or cuda:N.
    #[arg(long, global = true)]
    device: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
struct InfoArgs {
    model: PathBuf,
}

#[derive(Args)]
struct QueryArgs {
    model: PathBuf,
    /// Points, n × d: .npy, or .csv with d numeric columns (a header line is skipped).
    points: PathBuf,
    /// Time t of the query (matters for time-dependent potentials, `t,V`); default: the first
    /// snapshot time.
    #[arg(long)]
    time: Option<f64>,
    /// Write the result as .npy (n, or n × d) or .csv; default: CSV on standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct GenerateArgs {
    /// Potential V (one of the 15 benchmark names, or none).
    #[arg(long, default_value = "wavy_plateau")]
    potential: String,
    /// Interaction kernel W (a benchmark name; default: no interaction).
    #[arg(long)]
    interaction: Option<String>,
    /// Symmetrise the interaction kernel, W_s(z) = ½(W(z) + W(−z)).
    #[arg(long, requires = "interaction")]
    symmetrised: bool,
    /// Diffusion coefficient β ≥ 0 (noise √(2β dt) per step).
    #[arg(long, default_value_t = 0.0)]
    beta: f64,
    /// Time step; snapshot k is at time k·dt.
    #[arg(long, default_value_t = 0.01)]
    dt: f64,
    /// Number of steps T (T + 1 snapshots).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Particles per snapshot.
    #[arg(long, default_value_t = 2000)]
    particles: usize,
    /// Dimension.
    #[arg(long, default_value_t = 2)]
    dim: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One population followed through time (default: an independent population per snapshot).
    #[arg(long)]
    paired: bool,
    /// Output .npz file.
    #[arg(short, long)]
    output: PathBuf,
}

/// Where snapshot data come from.
#[derive(Args)]
struct DataArgs {
    /// Snapshot data: .npz (data, labels[, times]), .npy (with --labels), .csv (one row per point)
    /// or AnnData .h5ad (with --time-key).
    data: PathBuf,
    /// Per-row time labels (.npy) for a .npy data matrix.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// CSV column holding the time label: a header name or a zero-based index (default: the last).
    #[arg(long)]
    label_column: Option<String>,
    /// .h5ad: the obs column holding each cell's time (numeric, or categorical with numeric labels).
    #[arg(long, value_name = "COLUMN")]
    time_key: Option<String>,
    /// .h5ad: read the points from obsm[KEY] (e.g. X_pca) instead of X.
    #[arg(long, value_name = "KEY")]
    obsm: Option<String>,
    /// .h5ad: read the points from layers[NAME] instead of X.
    #[arg(long, value_name = "NAME", conflicts_with = "obsm")]
    layer: Option<String>,
    /// .h5ad: times of a label column's values, e.g. day2=2,day10=10 (for non-numeric labels).
    #[arg(long, value_name = "LABEL=TIME,...")]
    time_values: Option<String>,
}

/// An optional per-snapshot random split of the data.
#[derive(Args)]
struct SplitArgs {
    /// Fraction of each snapshot held out (0 = use everything).
    #[arg(long, default_value_t = 0.0)]
    test_fraction: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Output model file (.safetensors); the per-epoch history goes to `<OUTPUT>.history.csv`.
    #[arg(short, long)]
    output: PathBuf,
    /// Learning method: ijkonet (default), jkonet_star, jkonet_star_linear or jkonet.
    #[arg(long)]
    method: Option<String>,
    /// Energy variant, e.g. V, V+W, V+W+U, t,V.
    #[arg(long)]
    variant: Option<String>,
    /// Training length in epochs (default: automatic, early stopping on validation cells).
    #[arg(long)]
    epochs: Option<usize>,
    /// Wall-clock budget in seconds (training keeps the best validated parameters).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Any training option as key=value (repeatable); see `TrainConfig::keys()`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Fraction of each snapshot held out for the final evaluation (0 = train on everything).
    #[arg(long, default_value_t = 0.4)]
    test_fraction: f64,
    /// Seed of the split and of training (a later --set seed=… overrides the training seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate the held-out one-step W1 every N epochs during training (0 = only at the end).
    #[arg(long, default_value_t = 0)]
    eval_every: usize,
}

#[derive(Args)]
struct PredictArgs {
    model: PathBuf,
    /// Points observed at the model's time t_k (.npy, n × d).
    #[arg(long)]
    input: PathBuf,
    /// Index k of the observed time of the input points.
    #[arg(long)]
    from_step: usize,
    /// Chain this many learned steps (default 1).
    #[arg(long, conflicts_with = "to_time")]
    steps: Option<usize>,
    /// Predict at this time instead (a JKO step with the learned energy when it is not an observed time).
    #[arg(long)]
    to_time: Option<f64>,
    /// Iterations of the JKO step solved for an unobserved target time.
    #[arg(long, default_value_t = 500)]
    jko_iterations: usize,
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Args)]
struct SimulateArgs {
    model: PathBuf,
    /// Initial points (.npy, n × d).
    #[arg(long)]
    input: PathBuf,
    /// Start time (default: the model's first time).
    #[arg(long)]
    t0: Option<f64>,
    /// Euler–Maruyama time step.
    #[arg(long)]
    dt: f64,
    #[arg(long)]
    steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output trajectory (.npz snapshots at t0 + s·dt).
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Args)]
struct EvalArgs {
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    split: SplitArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PlotArgs {
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    split: SplitArgs,
    /// Output directory (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// Grid points per axis of the potential plot.
    #[arg(long, default_value_t = 80)]
    grid: usize,
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error: {}", one_line(&msg));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(e.message()));
            ExitCode::from(1)
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Help and version print as usual; a bad command line becomes one line (clap's message without the usage block).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(2);
    }
    let text = e.to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error:").unwrap_or(&message).trim();
    eprintln!("error: {message} (see 'ijkonet --help')");
    ExitCode::from(2)
}

fn run(cli: Cli) -> Result<()> {
    let device = cli.device.as_deref().map(str::parse::<DeviceSpec>).transpose()?;
    match cli.command {
        Command::Generate(a) => cmd_generate(a),
        Command::Train(a) => cmd_train(a, device),
        Command::Predict(a) => cmd_predict(a, device),
        Command::Simulate(a) => cmd_simulate(a, device),
        Command::Eval(a) => cmd_eval(a, device),
        Command::Plot(a) => cmd_plot(a, device),
        Command::Info(a) => cmd_info(a, device),
        Command::Potential(a) => cmd_query(a, device, false),
        Command::Grad(a) => cmd_query(a, device, true),
    }
}

// ------------------------------------------------------------------------------------------ files

/// `<path><suffix>`, e.g. `data.npz` → `data.npz.truth.txt`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

const TRUTH_SUFFIX: &str = ".truth.txt";
const HISTORY_SUFFIX: &str = ".history.csv";

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
}

fn write_truth(path: &Path, truth: &GroundTruth) -> Result<()> {
    let name = |p: Option<Potential>| p.map_or("none", |p| p.name());
    let text = format!(
        "# ground truth of the synthetic data in the file this one is named after (ijkonet generate)\n\
         potential={}\ninteraction={}\nsymmetrised={}\nbeta={}\ndt={}\n",
        name(truth.potential),
        name(truth.interaction.map(|i| i.kernel)),
        truth.interaction.is_some_and(|i| i.symmetrised),
        truth.beta,
        truth.dt
    );
    write_text(path, &text)
}

/// The ground truth stored next to a data file by `generate`, if there is one.
fn read_truth(data: &Path) -> Result<Option<GroundTruth>> {
    let path = sidecar(data, TRUTH_SUFFIX);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let bad = |m: String| Error::format(format!("{}: {m}", path.display()));
    let mut truth = GroundTruth { potential: None, interaction: None, beta: 0.0, dt: 0.0 };
    let mut symmetrised = false;
    let potential = |v: &str| if v == "none" { Ok(None) } else { v.parse::<Potential>().map(Some) };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (k, v) = line.split_once('=').ok_or_else(|| bad(format!("line '{line}' is not key=value")))?;
        let number = || v.parse::<f64>().map_err(|_| bad(format!("'{k}' is not a number: '{v}'")));
        match k {
            "potential" => truth.potential = potential(v).map_err(|e| bad(e.message().into()))?,
            "interaction" => {
                truth.interaction = potential(v)
                    .map_err(|e| bad(e.message().into()))?
                    .map(|kernel| Interaction { kernel, symmetrised: false })
            }
            "symmetrised" => symmetrised = v == "true",
            "beta" => truth.beta = number()?,
            "dt" => truth.dt = number()?,
            _ => return Err(bad(format!("unknown key '{k}'"))),
        }
    }
    if let Some(i) = truth.interaction.as_mut() {
        i.symmetrised = symmetrised;
    }
    Ok(Some(truth))
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

fn load_data(a: &DataArgs) -> Result<Snapshots> {
    let path = &a.data;
    let ext = extension(path);
    if a.labels.is_some() && ext != "npy" {
        return Err(Error::invalid_argument("--labels applies only to .npy data"));
    }
    if a.label_column.is_some() && ext != "csv" {
        return Err(Error::invalid_argument("--label-column applies only to .csv data"));
    }
    let h5ad_flags = [
        (a.time_key.is_some(), "--time-key"),
        (a.obsm.is_some(), "--obsm"),
        (a.layer.is_some(), "--layer"),
        (a.time_values.is_some(), "--time-values"),
    ];
    if let Some((_, flag)) = h5ad_flags.iter().find(|(set, _)| *set && ext != "h5ad") {
        return Err(Error::invalid_argument(format!("{flag} applies only to .h5ad data")));
    }
    match ext.as_str() {
        "h5ad" => {
            let time_key = a.time_key.clone().ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{}: .h5ad data need the obs column of the times: --time-key COLUMN",
                    path.display()
                ))
            })?;
            let matrix = match (&a.obsm, &a.layer) {
                (Some(k), _) => Matrix::Obsm(k.clone()),
                (_, Some(l)) => Matrix::Layer(l.clone()),
                _ => Matrix::X,
            };
            let time_values = a.time_values.as_deref().map(parse_time_values).transpose()?;
            read_h5ad(path, &H5adOptions { matrix, time_key, time_values })
        }
        "npz" => read_npz(path),
        "npy" => {
            let labels = a.labels.as_ref().ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{}: .npy data need per-row time labels: --labels FILE.npy",
                    path.display()
                ))
            })?;
            read_labelled_npy(path, labels)
        }
        "csv" => {
            let label = match a.label_column.as_deref() {
                None => LabelColumn::Last,
                Some(c) => c.parse::<usize>().map_or_else(|_| LabelColumn::Name(c.to_string()), LabelColumn::Index),
            };
            read_csv(path, &CsvOptions { label, ..CsvOptions::default() })
        }
        _ => Err(Error::invalid_argument(format!(
            "{}: unknown data format (expected .npz, .npy with --labels, .csv, or .h5ad with --time-key)",
            path.display()
        ))),
    }
}

/// The data, or its held-out part when a test fraction is given.
fn load_split(data: &DataArgs, split: &SplitArgs) -> Result<Snapshots> {
    let s = load_data(data)?;
    if split.test_fraction == 0.0 {
        return Ok(s);
    }
    Ok(s.split(split.test_fraction, split.seed)?.1)
}

fn write_npy(path: &Path, x: &Array2<f64>) -> Result<()> {
    ndarray_npy::write_npy(path, x).map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
}

// --------------------------------------------------------------------------------------- generate

fn cmd_generate(a: GenerateArgs) -> Result<()> {
    let potential = if a.potential == "none" { None } else { Some(a.potential.parse::<Potential>()?) };
    let interaction = a
        .interaction
        .as_deref()
        .map(|n| n.parse::<Potential>().map(|kernel| Interaction { kernel, symmetrised: a.symmetrised }))
        .transpose()?;
    let config = SdeConfig {
        potential,
        interaction,
        beta: a.beta,
        dt: a.dt,
        n_steps: a.steps,
        n_particles: a.particles,
        dim: a.dim,
        seed: a.seed,
        pairing: if a.paired { Pairing::Paired } else { Pairing::Unpaired },
        ..SdeConfig::default()
    };
    let data = generate(&config)?;
    write_npz(&a.output, &data.snapshots)?;
    let truth_path = sidecar(&a.output, TRUTH_SUFFIX);
    write_truth(&truth_path, &data.truth)?;
    println!(
        "wrote {} ({} snapshots × {} particles, dimension {}, {}) and {}",
        a.output.display(),
        data.snapshots.len(),
        a.particles,
        a.dim,
        if a.paired { "paired" } else { "unpaired" },
        truth_path.display()
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------ train

fn cmd_train(a: TrainArgs, device: Option<DeviceSpec>) -> Result<()> {
    let mut config = TrainConfig { seed: a.seed, ..TrainConfig::default() };
    if let Some(d) = device {
        config.device = d;
    }
    if let Some(m) = &a.method {
        config.set("method", m)?;
    }
    if let Some(v) = &a.variant {
        config.set("variant", v)?;
    }
    if let Some(e) = a.epochs {
        config.set("epochs", &e.to_string())?;
    }
    if let Some(s) = a.max_seconds {
        config.set("max_seconds", &s.to_string())?;
    }
    for kv in &a.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::invalid_argument(format!("--set expects key=value, got '{kv}'")))?;
        config.set(k.trim(), v.trim())?;
    }
    let data = load_data(&a.data)?;
    let truth = read_truth(&a.data.data)?;
    let (train, test) = if a.test_fraction == 0.0 {
        (data, None)
    } else {
        let (train, test) = data.split(a.test_fraction, a.seed)?;
        (train, Some(test))
    };
    for (k, (between, noise)) in ijkonet::baselines::drift_signal(&train, a.seed)?.into_iter().enumerate() {
        if between < 1.2 * noise {
            println!(
                "warning: step {k}: the population moves by W1 {between:.4}, hardly more than two samples of one \
                 snapshot differ (W1 {noise:.4}); the drift is barely identifiable from these data"
            );
        }
    }
    let start = Instant::now();
    let mut trainer = methods::trainer(&config, &train)?;
    let per_epoch = trainer.iterations_per_epoch().max(1);
    let epochs = trainer.budget_epochs(0);
    let norm = trainer.model().normalisation();
    println!(
        "training {}_{} on {} snapshots {:?} of dimension {} (up to {} epochs of {} iterations{}, device {:?}; \
         coordinates centred and scaled by {:.4})",
        config.method.display_name(),
        config.energy.variant,
        train.len(),
        train.sizes(),
        train.dim(),
        epochs,
        per_epoch,
        trainer
            .validation_data()
            .map_or(String::new(), |v| format!(", early stopping on {:?} validation cells", v.sizes())),
        config.device.resolve()?,
        norm.scale
    );
    let bar = if std::io::stdout().is_terminal() {
        let bar = ProgressBar::new(epochs as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} epochs [{elapsed_precise} < {eta_precise}] {msg}")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    // Without a terminal, a line every ~10 % keeps logs informative without flooding them.
    let log_every = if bar.is_hidden() { (epochs / 10).max(1) } else { 0 };
    let eval = match (&test, a.eval_every) {
        (Some(t), n) if n > 0 => Some((t, n)),
        _ => None,
    };
    let mut history: Vec<Progress> = Vec::new();
    let result = trainer.train(epochs, eval, &mut |p| {
        let metric = p.metric.map_or(String::new(), |m| format!("  held-out W1 {m:.4}"));
        let val = match (p.validation, p.best_validation) {
            (Some(v), Some(b)) => format!("  validation W1 {v:.4} (best {b:.4})"),
            (None, Some(b)) => format!("  best validation W1 {b:.4}"),
            _ => String::new(),
        };
        let msg = format!("energy loss {:+.4}  map loss {:+.4}{val}{metric}", p.energy_loss, p.map_loss);
        bar.set_position(p.epoch as u64);
        bar.set_message(msg.clone());
        if log_every > 0 && (p.epoch % log_every == 0 || p.epoch == p.epochs) {
            println!("epoch {:>5}/{}  {msg}", p.epoch, p.epochs);
        }
        history.push(*p);
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    result?;
    let model = trainer.into_model();
    println!("trained in {:.2} s", start.elapsed().as_secs_f64());
    if let Some(v) = model.validation_summary() {
        let why = match v.stop_reason {
            "patience" => "stopped early: no better validation score for the patience window",
            "time" => "stopped at the wall-clock budget",
            _ => "ran the whole budget",
        };
        println!(
            "validation W1: {:.4} at the start (warm start), best {:.4} at epoch {} — kept; {} epochs run, {why}",
            v.initial_w1, v.best_w1, v.best_epoch, v.epochs_run
        );
    }
    if model.config().energy.variant.internal {
        match &truth {
            Some(t) => println!("learned diffusion coefficient θ₃ = {:.4} (true β = {})", model.theta3(), t.beta),
            None => println!("learned diffusion coefficient θ₃ = {:.4}", model.theta3()),
        }
    }
    model.save(&a.output)?;
    let history_path = sidecar(&a.output, HISTORY_SUFFIX);
    let mut csv = String::from("epoch,energy_loss,map_loss,heldout_w1,validation_w1\n");
    for p in &history {
        let metric = p.metric.map_or(String::new(), |m| m.to_string());
        let val = p.validation.map_or(String::new(), |m| m.to_string());
        csv.push_str(&format!("{},{},{},{metric},{val}\n", p.epoch, p.energy_loss, p.map_loss));
    }
    write_text(&history_path, &csv)?;
    println!("wrote {} and {}", a.output.display(), history_path.display());
    match test {
        Some(test) => {
            let rows = evaluate(&model, &test, truth.as_ref())?;
            println!("\nheld-out data ({} of each snapshot):", a.test_fraction);
            print_table(&rows);
        }
        None => println!("(no held-out data: --test-fraction 0)"),
    }
    Ok(())
}

// ----------------------------------------------------------------------------- predict, simulate

fn cmd_predict(a: PredictArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let x = read_npy_matrix(&a.input)?;
    let times = model.times();
    if a.from_step >= times.len() {
        return Err(Error::invalid_argument(format!(
            "--from-step {} out of range: the model has snapshots 0..={}",
            a.from_step,
            times.len() - 1
        )));
    }
    let out = match a.to_time {
        Some(t) => {
            let opts = JkoStepOptions { iterations: a.jko_iterations, ..JkoStepOptions::default() };
            model.predict_at(x.view(), times[a.from_step], t, &opts)?
        }
        None => model.rollout(a.from_step, a.steps.unwrap_or(1), x.view())?.pop().expect("at least one step"),
    };
    write_npy(&a.output, &out)?;
    println!("wrote {} ({} points × {})", a.output.display(), out.nrows(), out.ncols());
    Ok(())
}

fn cmd_info(a: InfoArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    let c = model.config();
    let times: Vec<String> = model.times().iter().map(|t| format!("{t}")).collect();
    println!("model          {}", a.model.display());
    println!("method         {}", model.method().name());
    println!("variant        {}{}", model.energy().variant(), if c.variant_auto { " (auto)" } else { "" });
    println!("dimension      {}", model.dim());
    println!("times          {} ({} snapshots, {} steps)", times.join(", "), times.len(), times.len() - 1);
    println!("device         {}", c.device);
    println!("epochs done    {}", model.epochs_done());
    if model.energy().variant().internal {
        println!("theta3         {:.6}", model.theta3());
    }
    let n = model.normalisation();
    let centre: Vec<String> = n.centre.iter().map(|v| format!("{v:.4}")).collect();
    println!("normalisation  x -> (x - c)/s, c = ({}), s = {:.4}", centre.join(", "), n.scale);
    match model.validation_summary() {
        Some(v) => println!(
            "validation W1  {:.4} before training, best {:.4} at epoch {} of {} (stopped: {})",
            v.initial_w1, v.best_w1, v.best_epoch, v.epochs_run, v.stop_reason
        ),
        None => println!("validation W1  none (validation split off)"),
    }
    match model.baselines() {
        Some(b) => {
            let shrink: Vec<String> = b.fits.iter().map(|f| format!("{:.3}", f.shrinkage)).collect();
            println!(
                "baselines      no motion, mean shift, affine OT (Ledoit-Wolf fits of {} snapshots, shrinkage {})",
                b.fits.len(),
                shrink.join(", ")
            );
        }
        None => println!("baselines      none (a version-1 model file)"),
    }
    let keys = ["tau", "seed", "batch_size", "map_steps", "energy_hidden", "map_hidden", "warm_start"];
    let options: Vec<String> = keys.iter().filter_map(|k| c.get(k).ok().map(|v| format!("{k}={v}"))).collect();
    println!("options        {}", options.join(" "));
    Ok(())
}

/// Points of a query: .npy (n × d) or .csv (numeric columns; a non-numeric first line is a header).
fn read_points(path: &Path) -> Result<Array2<f64>> {
    if extension(path) != "csv" {
        return read_npy_matrix(path);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))?;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parsed: std::result::Result<Vec<f64>, _> = line.split(',').map(|v| v.trim().parse::<f64>()).collect();
        match parsed {
            Ok(r) => rows.push(r),
            Err(_) if rows.is_empty() && i == 0 => continue,
            Err(_) => return Err(Error::invalid_data(format!("{}: line {} is not numeric", path.display(), i + 1))),
        }
    }
    let d = rows.first().map_or(0, Vec::len);
    if d == 0 || rows.iter().any(|r| r.len() != d) {
        return Err(Error::invalid_data(format!("{}: need rows of equally many numeric columns", path.display())));
    }
    let n = rows.len();
    Array2::from_shape_vec((n, d), rows.concat()).map_err(|e| Error::internal(e.to_string()))
}

fn cmd_query(a: QueryArgs, device: Option<DeviceSpec>, gradient: bool) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let x = read_points(&a.points)?;
    let t = a.time.unwrap_or(model.times()[0]);
    let out =
        if gradient { model.grad_potential(x.view(), t)? } else { model.potential(x.view(), t)?.insert_axis(Axis(1)) };
    if let Some(bad) = out.iter().position(|v| !v.is_finite()) {
        return Err(Error::numerical(format!(
            "the result at point {} is not finite (far outside the training data?)",
            bad / out.ncols()
        )));
    }
    match &a.output {
        Some(path) if extension(path) == "npy" => {
            if gradient {
                write_npy(path, &out)?
            } else {
                let v = out.column(0).to_owned();
                ndarray_npy::write_npy(path, &v)
                    .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))?
            }
        }
        Some(path) => write_text(path, &csv_rows(&out))?,
        None => print!("{}", csv_rows(&out)),
    }
    if let Some(path) = &a.output {
        eprintln!("wrote {} ({} × {})", path.display(), out.nrows(), out.ncols());
    }
    Ok(())
}

/// Rows as CSV lines (shortest round-trip float formatting).
fn csv_rows(x: &Array2<f64>) -> String {
    let mut s = String::new();
    for row in x.outer_iter() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

fn cmd_simulate(a: SimulateArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let x = read_npy_matrix(&a.input)?;
    if a.steps == 0 {
        return Err(Error::invalid_argument("--steps must be at least 1"));
    }
    let t0 = a.t0.unwrap_or(model.times()[0]);
    let clouds = model.simulate(x.view(), t0, a.dt, a.steps, a.seed)?;
    let times = (0..=a.steps).map(|s| t0 + s as f64 * a.dt).collect();
    write_npz(&a.output, &Snapshots::new(times, clouds)?)?;
    println!("wrote {} ({} snapshots of {} points)", a.output.display(), a.steps + 1, x.nrows());
    Ok(())
}

// ------------------------------------------------------------------------------------------- eval

/// Metrics of the one-step prediction T^k(ρ_k) against ρ_{k+1}.
struct StepMetrics {
    t_from: f64,
    t_to: f64,
    w1: f64,
    w2: f64,
    mmd: f64,
    bw_uvp: f64,
    /// W1(ρ_k, ρ_{k+1}): what predicting "nothing moves" scores.
    baseline_w1: f64,
    /// W1 of the mean-shift and affine Gaussian OT predictions fitted on the training snapshots
    /// (None for models saved before the baselines were stored).
    mean_shift_w1: Option<f64>,
    affine_w1: Option<f64>,
    /// L2-UVP (%) of the learned ∇V on ρ_{k+1} against the truth, when the truth is known.
    l2_uvp: Option<f64>,
    /// ‖∇V̂ − ∇V‖/‖∇V‖ and the mean cosine between ∇V̂ and ∇V on ρ_{k+1}: unlike L2-UVP, these
    /// carry no τ² factor, so a field pointing the wrong way cannot score well.
    grad_rel_l2: Option<f64>,
    grad_cosine: Option<f64>,
}

fn check_compatible(model: &Model, data: &Snapshots) -> Result<()> {
    if data.len() != model.times().len() || data.dim() != model.dim() {
        return Err(Error::invalid_argument(format!(
            "the data have {} snapshots of dimension {}, the model expects {} of dimension {}",
            data.len(),
            data.dim(),
            model.times().len(),
            model.dim()
        )));
    }
    Ok(())
}

fn evaluate(model: &Model, data: &Snapshots, truth: Option<&GroundTruth>) -> Result<Vec<StepMetrics>> {
    check_compatible(model, data)?;
    let times = data.times();
    let with_truth = truth.filter(|t| t.potential.is_some() && model.config().energy.variant.potential);
    (0..data.len() - 1)
        .map(|k| {
            let source = data.get(k).expect("k in range").points.view();
            let target = data.get(k + 1).expect("k + 1 in range").points.view();
            let pred = model.push_forward(k, source)?;
            let baseline = |kind: Baseline| -> Result<Option<f64>> {
                match model.baselines() {
                    Some(b) => Ok(Some(ot::w1(b.predict(kind, k, source)?.view(), target)?)),
                    None => Ok(None),
                }
            };
            let (l2, rel, cos) = match with_truth {
                Some(t) => {
                    let learned = model.grad_potential(target, times[k + 1])?;
                    let truth = t.grad_potential(target);
                    (
                        Some(l2_uvp(learned.view(), truth.view(), times[k + 1] - times[k], source)?),
                        Some(relative_l2_error(learned.view(), truth.view())?.sqrt()),
                        Some(mean_cosine(learned.view(), truth.view())?),
                    )
                }
                None => (None, None, None),
            };
            Ok(StepMetrics {
                t_from: times[k],
                t_to: times[k + 1],
                w1: ot::w1(pred.view(), target)?,
                w2: ot::w2(pred.view(), target)?,
                mmd: mmd::mmd(pred.view(), target, mmd::Bandwidth::Median)?,
                bw_uvp: bw_uvp(pred.view(), target)?,
                baseline_w1: ot::w1(source, target)?,
                mean_shift_w1: baseline(Baseline::MeanShift)?,
                affine_w1: baseline(Baseline::AffineOt)?,
                l2_uvp: l2,
                grad_rel_l2: rel,
                grad_cosine: cos,
            })
        })
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

/// The mean of an optional per-step value, when every step has it.
fn mean_opt(rows: &[StepMetrics], f: impl Fn(&StepMetrics) -> Option<f64>) -> Option<f64> {
    rows.iter().all(|r| f(r).is_some()).then(|| mean(rows.iter().filter_map(&f)))
}

fn print_table(rows: &[StepMetrics]) {
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    println!(
        "{:>4} {:>21} {:>9} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>10} {:>9}",
        "step", "time", "W1", "W2", "MMD", "BW-UVP%", "L2-UVP%", "no motion", "mean shift", "affine OT"
    );
    for (k, r) in rows.iter().enumerate() {
        println!(
            "{k:>4} {:>21} {:>9.4} {:>9.4} {:>9.4} {:>9.3} {:>9} | {:>9.4} {:>10} {:>9}",
            format!("{:.4} → {:.4}", r.t_from, r.t_to),
            r.w1,
            r.w2,
            r.mmd,
            r.bw_uvp,
            opt(r.l2_uvp, 3),
            r.baseline_w1,
            opt(r.mean_shift_w1, 4),
            opt(r.affine_w1, 4)
        );
    }
    let model_w1 = mean(rows.iter().map(|r| r.w1));
    println!(
        "{:>4} {:>21} {:>9.4} {:>9.4} {:>9.4} {:>9.3} {:>9} | {:>9.4} {:>10} {:>9}",
        "mean",
        "",
        model_w1,
        mean(rows.iter().map(|r| r.w2)),
        mean(rows.iter().map(|r| r.mmd)),
        mean(rows.iter().map(|r| r.bw_uvp)),
        opt(mean_opt(rows, |r| r.l2_uvp), 3),
        mean(rows.iter().map(|r| r.baseline_w1)),
        opt(mean_opt(rows, |r| r.mean_shift_w1), 4),
        opt(mean_opt(rows, |r| r.affine_w1), 4)
    );
    if rows.iter().all(|r| r.grad_cosine.is_some()) {
        println!("learned ∇V against the true ∇V on ρ_(k+1):");
        println!("{:>4} {:>9} {:>12} {:>12}", "step", "L2-UVP%", "rel. error", "mean cosine");
        for (k, r) in rows.iter().enumerate() {
            println!("{k:>4} {:>9} {:>12} {:>12}", opt(r.l2_uvp, 3), opt(r.grad_rel_l2, 4), opt(r.grad_cosine, 4));
        }
        println!(
            "{:>4} {:>9} {:>12} {:>12}",
            "mean",
            opt(mean_opt(rows, |r| r.l2_uvp), 3),
            opt(mean_opt(rows, |r| r.grad_rel_l2), 4),
            opt(mean_opt(rows, |r| r.grad_cosine), 4)
        );
    }
    let (kind, best) = best_baseline(rows);
    let verdict = if model_w1 < best { "beats" } else { "does NOT beat" };
    println!(
        "model mean W1 {model_w1:.4} {verdict} the best naive prediction ({} {best:.4}): ratio {:.3}",
        baseline_label(kind),
        model_w1 / best
    );
}

/// The naive prediction with the lowest mean W1 on these rows, and that W1.
fn best_baseline(rows: &[StepMetrics]) -> (Baseline, f64) {
    [
        (Baseline::NoMotion, Some(mean(rows.iter().map(|r| r.baseline_w1)))),
        (Baseline::MeanShift, mean_opt(rows, |r| r.mean_shift_w1)),
        (Baseline::AffineOt, mean_opt(rows, |r| r.affine_w1)),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.map(|v| (n, v)))
    .fold((Baseline::NoMotion, f64::INFINITY), |best, c| if c.1 < best.1 { c } else { best })
}

/// How the tables name a baseline.
fn baseline_label(b: Baseline) -> &'static str {
    match b {
        Baseline::NoMotion => "no motion",
        Baseline::MeanShift => "mean shift",
        Baseline::AffineOt => "affine OT",
    }
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_report(model_path: &Path, data_path: &Path, rows: &[StepMetrics]) -> String {
    let opt = |v: Option<f64>| v.map_or("null".to_string(), json_number);
    let steps: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            format!(
                "{{\"step\": {k}, \"t_from\": {}, \"t_to\": {}, \"w1\": {}, \"w2\": {}, \"mmd\": {}, \"bw_uvp\": {}, \
                 \"l2_uvp\": {}, \"grad_rel_l2\": {}, \"grad_cosine\": {}, \"baseline_w1\": {}, \"baselines\": \
                 {{\"no_motion\": {}, \"mean_shift\": {}, \"affine_ot\": {}}}}}",
                json_number(r.t_from),
                json_number(r.t_to),
                json_number(r.w1),
                json_number(r.w2),
                json_number(r.mmd),
                json_number(r.bw_uvp),
                opt(r.l2_uvp),
                opt(r.grad_rel_l2),
                opt(r.grad_cosine),
                json_number(r.baseline_w1),
                json_number(r.baseline_w1),
                opt(r.mean_shift_w1),
                opt(r.affine_w1)
            )
        })
        .collect();
    let l2_mean = mean_opt(rows, |r| r.l2_uvp);
    let (best_name, best) = best_baseline(rows);
    format!(
        "{{\n  \"model\": {},\n  \"data\": {},\n  \"steps\": [\n    {}\n  ],\n  \"mean\": {{\"w1\": {}, \"w2\": {}, \"mmd\": {}, \
         \"bw_uvp\": {}, \"l2_uvp\": {}, \"grad_rel_l2\": {}, \"grad_cosine\": {}, \"baseline_w1\": {}, \
         \"baselines\": {{\"no_motion\": {}, \"mean_shift\": {}, \"affine_ot\": {}}}}},\n  \"best_baseline\": {{\"name\": {}, \"w1\": {}}},\n  \"beats_best_baseline\": {}\n}}",
        json_string(&model_path.display().to_string()),
        json_string(&data_path.display().to_string()),
        steps.join(",\n    "),
        json_number(mean(rows.iter().map(|r| r.w1))),
        json_number(mean(rows.iter().map(|r| r.w2))),
        json_number(mean(rows.iter().map(|r| r.mmd))),
        json_number(mean(rows.iter().map(|r| r.bw_uvp))),
        opt(l2_mean),
        opt(mean_opt(rows, |r| r.grad_rel_l2)),
        opt(mean_opt(rows, |r| r.grad_cosine)),
        json_number(mean(rows.iter().map(|r| r.baseline_w1))),
        json_number(mean(rows.iter().map(|r| r.baseline_w1))),
        opt(mean_opt(rows, |r| r.mean_shift_w1)),
        opt(mean_opt(rows, |r| r.affine_w1)),
        json_string(best_name.name()),
        json_number(best),
        mean(rows.iter().map(|r| r.w1)) < best
    )
}

fn cmd_eval(a: EvalArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let data = load_split(&a.data, &a.split)?;
    let truth = read_truth(&a.data.data)?;
    let rows = evaluate(&model, &data, truth.as_ref())?;
    if a.json {
        println!("{}", json_report(&a.model, &a.data.data, &rows));
    } else {
        println!("one-step predictions T^k(ρ_k) vs ρ_(k+1) on {}:", a.data.data.display());
        print_table(&rows);
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

// ------------------------------------------------------------------------------------------- plot

/// The first two coordinates (a 1-D cloud gets a zero second coordinate).
fn plane(x: &Array2<f64>) -> Array2<f64> {
    if x.ncols() >= 2 {
        x.slice(ndarray::s![.., 0..2]).to_owned()
    } else {
        let mut out = Array2::zeros((x.nrows(), 2));
        out.column_mut(0).assign(&x.column(0));
        out
    }
}

/// Learned (and true) potential over the data's range of the first two coordinates, the other
/// coordinates held at the data mean.
fn plot_potential(model: &Model, data: &Snapshots, truth: Option<&GroundTruth>, n: usize, path: &Path) -> Result<()> {
    let views: Vec<_> = data.iter().map(|s| s.points.view()).collect();
    let all = ndarray::concatenate(Axis(0), &views).expect("common dimension");
    let centre = all.mean_axis(Axis(0)).expect("non-empty data");
    let range = |c: usize| {
        let (lo, hi) = all.column(c).iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        let pad = 0.05 * (hi - lo).max(1e-9);
        (lo - pad, hi + pad)
    };
    let t = model.times()[0];
    let d = model.dim();
    // Embed plane points into the full space at the data mean.
    let embed = |p: ndarray::ArrayView2<f64>| {
        let mut x = Array2::from_shape_fn((p.nrows(), d), |(_, j)| centre[j]);
        for (mut row, q) in x.rows_mut().into_iter().zip(p.rows()) {
            for j in 0..d.min(2) {
                row[j] = q[j];
            }
        }
        x
    };
    let true_name = truth.and_then(|t| t.potential).map(|p| p.name());
    if d == 1 {
        let (lo, hi) = range(0);
        let xs = Array2::from_shape_fn((n.max(2), 1), |(i, _)| lo + (hi - lo) * i as f64 / (n.max(2) - 1) as f64);
        let shifted = |v: Vec<f64>| {
            let m = v.iter().copied().fold(f64::INFINITY, f64::min);
            xs.column(0).iter().zip(v).map(|(&x, y)| (x, y - m)).collect::<Vec<_>>()
        };
        let mut series = vec![Series { points: shifted(model.potential(xs.view(), t)?.to_vec()), colour: RED }];
        let mut title = "V(x) − min: learned (red)".to_string();
        if let (Some(name), Some(gt)) = (true_name, truth) {
            series.push(Series { points: shifted(gt.potential_values(xs.view()).to_vec()), colour: BLUE });
            title.push_str(&format!(", true {name} (blue)"));
        }
        return plot::line_panels(path, &[(title, series)]);
    }
    let (nx, ny) = (n, n);
    let learned = Grid::evaluate(range(0), range(1), (nx, ny), |p| Ok(model.potential(embed(p).view(), t)?.to_vec()))?;
    let rest = match d {
        2 => String::new(),
        3 => ", x3 at its mean".to_string(),
        _ => format!(", x3..x{d} at their means"),
    };
    let mut panels = vec![(format!("learned V(x1, x2{rest})"), learned)];
    if let (Some(name), Some(gt)) = (true_name, truth) {
        let grid = Grid::evaluate(range(0), range(1), (nx, ny), |p| Ok(gt.potential_values(embed(p).view()).to_vec()))?;
        panels.push((format!("true V: {name}"), grid));
    }
    plot::level_curves(path, &panels, 12)
}

fn plot_snapshots(model: &Model, data: &Snapshots, path: &Path) -> Result<()> {
    let panels = (0..data.len() - 1)
        .map(|k| {
            let source = &data.get(k).expect("k").points;
            let target = &data.get(k + 1).expect("k + 1").points;
            let pred = model.push_forward(k, source.view())?;
            Ok((
                format!("t = {:.4}: data (blue), predicted (red)", data.times()[k + 1]),
                vec![Cloud { points: plane(target), colour: BLUE }, Cloud { points: plane(&pred), colour: RED }],
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    plot::scatter_panels(path, &panels)
}

/// Training curves from the history sidecar; false when there is none.
fn plot_history(model_path: &Path, path: &Path) -> Result<bool> {
    let history = sidecar(model_path, HISTORY_SUFFIX);
    let Ok(text) = std::fs::read_to_string(&history) else { return Ok(false) };
    let bad = |line: usize| Error::format(format!("{}: line {line} is malformed", history.display()));
    let mut columns: [Vec<(f64, f64)>; 4] = Default::default();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        // Four columns before the validation score was recorded, five since.
        if fields.len() != 4 && fields.len() != 5 {
            return Err(bad(i + 1));
        }
        let epoch: f64 = fields[0].parse().map_err(|_| bad(i + 1))?;
        for (c, f) in fields[1..].iter().enumerate() {
            if !f.is_empty() {
                columns[c].push((epoch, f.parse().map_err(|_| bad(i + 1))?));
            }
        }
    }
    let titles = ["energy loss", "map loss", "held-out one-step W1", "validation one-step W1"];
    let panels: Vec<(String, Vec<Series>)> = titles
        .iter()
        .zip(columns)
        .filter(|(_, points)| !points.is_empty())
        .map(|(title, points)| (format!("{title} vs epoch"), vec![Series { points, colour: BLUE }]))
        .collect();
    if panels.is_empty() {
        return Ok(false);
    }
    plot::line_panels(path, &panels)?;
    Ok(true)
}

fn cmd_plot(a: PlotArgs, device: Option<DeviceSpec>) -> Result<()> {
    if a.grid < 2 || a.grid > 1000 {
        return Err(Error::invalid_argument(format!("--grid must lie in 2..=1000, got {}", a.grid)));
    }
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let data = load_split(&a.data, &a.split)?;
    check_compatible(&model, &data)?;
    let truth = read_truth(&a.data.data)?;
    std::fs::create_dir_all(&a.output)
        .map_err(|e| Error::io(format!("cannot create directory {}: {e}", a.output.display())))?;
    let mut written = Vec::new();
    if model.config().energy.variant.potential {
        let path = a.output.join("potential.png");
        plot_potential(&model, &data, truth.as_ref(), a.grid, &path)?;
        written.push(path);
    } else {
        eprintln!("note: the model has no potential term; potential.png skipped");
    }
    let path = a.output.join("snapshots.png");
    plot_snapshots(&model, &data, &path)?;
    written.push(path);
    let path = a.output.join("training.png");
    if plot_history(&a.model, &path)? {
        written.push(path);
    } else {
        eprintln!("note: no training history next to the model; training.png skipped");
    }
    if !plot::has_font() {
        eprintln!("note: no TrueType font found (set IJKONET_FONT); figures have no text");
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}
