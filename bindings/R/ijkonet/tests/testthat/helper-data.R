# Three tiny snapshots of a 2-D cloud drifting to the right, and tiny network options.
tiny_data <- function(n = 12L) {
  set.seed(1)
  times <- c(0, 1, 2)
  x <- do.call(rbind, lapply(times, function(t) cbind(stats::rnorm(n) + 0.5 * t, stats::rnorm(n))))
  colnames(x) <- c("PC1", "PC2")
  list(x = x, time = rep(times, each = n))
}

tiny_model <- function(variant = "V", ...) {
  ijkonet_model(variant = variant, energy_hidden = 8, map_hidden = 8, batch_size = 8, map_steps = 2,
                threads = 1, device = "cpu", seed = 3, ...)
}

trained_model <- function() {
  d <- tiny_data()
  m <- tiny_model()
  fit(m, d$x, d$time, epochs = 2, progress = FALSE)
  m
}

# Held-out cells of the same process as tiny_data() (other draws, another number per snapshot).
held_out_data <- function(n = 15L) {
  set.seed(2)
  times <- c(0, 1, 2)
  x <- do.call(rbind, lapply(times, function(t) cbind(stats::rnorm(n) + 0.5 * t, stats::rnorm(n))))
  colnames(x) <- c("PC1", "PC2")
  list(x = x, time = rep(times, each = n))
}
