//! Training flags that make the command-line tests fast: two epochs of tiny networks on one thread.

/// `ijkonet train` flags for tiny, fast runs; `batch_setting` is the minibatch option, e.g.
/// `"batch_size=20"`.
pub const fn tiny_training_args(batch_setting: &'static str) -> [&'static str; 12] {
    [
        "--epochs",
        "2",
        "--set",
        "threads=1",
        "--set",
        "energy_hidden=8,8",
        "--set",
        "map_hidden=8",
        "--set",
        "map_steps=1",
        "--set",
        batch_setting,
    ]
}
