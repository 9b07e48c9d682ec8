test_that("fit trains on a matrix and a numeric time vector", {
  d <- tiny_data()
  m <- tiny_model()
  expect_output(fit(m, d$x, d$time, epochs = 2, progress = TRUE), "100%")
  expect_equal(snapshot_times(m), c(0, 1, 2))
  expect_output(print(m), "trained")
  # Training continues from where it stopped.
  expect_silent(fit(m, epochs = 1, progress = FALSE))
})

test_that("numeric labels are times; other labels need time_values", {
  d <- tiny_data()
  m <- tiny_model()
  fit(m, d$x, factor(d$time * 2), epochs = 1, progress = FALSE)
  expect_equal(snapshot_times(m), c(0, 2, 4))
  m1 <- tiny_model()
  fit(m1, d$x, as.character(d$time + 0.5), epochs = 1, progress = FALSE)
  expect_equal(snapshot_times(m1), c(0.5, 1.5, 2.5))
  # Labels that are not numbers used to become 0, 1, 2 in level order, and "day10" sorts before
  # "day2": the snapshots were silently put in the wrong order. They are refused now...
  labels <- c("day2", "day10", "day30")[d$time + 1]
  expect_error(fit(tiny_model(), d$x, labels, epochs = 1, progress = FALSE),
               '"day2", "day10", "day30" are not numbers.*time_values')
  expect_error(fit(tiny_model(), d$x, factor(labels), epochs = 1, progress = FALSE), "time_values")
  expect_error(fit(tiny_model(), d$x, replace(as.character(d$time), 1, "Inf"), epochs = 1, progress = FALSE),
               '"Inf" is not a number')
  # ... unless time_values gives every label its time.
  m2 <- tiny_model()
  fit(m2, d$x, factor(labels), time_values = c(day2 = 2, day10 = 10, day30 = 30), epochs = 1, progress = FALSE)
  expect_equal(snapshot_times(m2), c(2, 10, 30))
  x2 <- predict(m2, d$x[d$time == 0, ], step = 1)
  m3 <- tiny_model()
  fit(m3, d$x, c(2, 10, 30)[d$time + 1], epochs = 1, progress = FALSE)
  expect_equal(x2, predict(m3, d$x[d$time == 0, ], step = 1))
  expect_error(fit(tiny_model(), d$x, labels, time_values = c(day2 = 2, day10 = 10), progress = FALSE),
               'no time for the label "day30"')
  expect_error(fit(tiny_model(), d$x, labels, time_values = c(2, 10, 30), progress = FALSE), "one unique name")
  expect_error(fit(tiny_model(), d$x, d$time, time_values = c(a = 1), progress = FALSE), "already numeric")
  expect_error(fit(tiny_model(), d$x, replace(d$time, 3, NA), progress = FALSE), "NA")
  expect_error(fit(tiny_model(), d$x, d$time > 0, progress = FALSE), "numeric vector, a factor")
  # evaluate() reads labels the same way.
  h <- held_out_data()
  hl <- c("day2", "day10", "day30")[h$time + 1]
  ev <- evaluate(m2, h$x, hl, time_values = c(day2 = 2, day10 = 10, day30 = 30))
  expect_equal(ev$t_from, c(2, 10))
  expect_error(evaluate(m2, h$x, hl), "time_values")
})

test_that("predict gives one step from snapshot k and predictions at a time", {
  m <- trained_model()
  d <- tiny_data()
  x0 <- d$x[d$time == 0, ]
  p1 <- predict(m, x0, step = 1)
  expect_equal(dim(p1), dim(x0))
  expect_equal(colnames(p1), c("PC1", "PC2"))
  expect_true(all(is.finite(p1)))
  expect_false(isTRUE(all.equal(p1, x0)))
  # Between observed times predict_at chains the learned maps: t0 -> t1 is the step-1 map.
  expect_equal(predict(m, x0, to_time = 1, from_time = 0), p1)
  p2 <- predict(m, x0, to_time = 2, from_time = 0)
  expect_equal(p2, predict(m, p1, step = 2))
  expect_error(predict(m, x0, step = 3), class = "ijkonet_error")
})

test_that("simulate returns n x d x (steps + 1) starting at x0, reproducible by seed", {
  m <- trained_model()
  x0 <- tiny_data()$x[1:5, ]
  s <- simulate(m, x0 = x0, t0 = 0, dt = 0.05, n_steps = 4, seed = 7)
  expect_equal(dim(s), c(5L, 2L, 5L))
  expect_equal(unname(s[, , 1]), unname(x0))
  expect_equal(s, simulate(m, x0 = x0, t0 = 0, dt = 0.05, n_steps = 4, seed = 7))
  expect_error(simulate(m, x0 = x0, dt = -1, n_steps = 2, seed = 1), class = "ijkonet_invalid_argument")
})

test_that("potential and grad_potential agree with finite differences", {
  m <- trained_model()
  x <- tiny_data()$x[1:4, ]
  v <- potential(m, x)
  g <- grad_potential(m, x)
  expect_length(v, 4L)
  expect_equal(dim(g), c(4L, 2L))
  h <- 1e-2 # the networks run in float32: a larger step keeps rounding out of the difference
  for (j in 1:2) {
    e <- matrix(0, nrow(x), 2)
    e[, j] <- h
    fd <- (potential(m, x + e) - potential(m, x - e)) / (2 * h)
    expect_equal(unname(g[, j]), unname(fd), tolerance = 2e-2)
  }
})

test_that("load_model chooses the device", {
  m <- trained_model()
  path <- tempfile(fileext = ".safetensors")
  on.exit(unlink(path))
  save_model(m, path)
  x <- tiny_data()$x[1:6, ]
  expect_equal(predict(load_model(path, device = "cpu"), x, step = 1), predict(m, x, step = 1))
  # "auto" is CUDA where there is one: float32 on another device, hence the tolerance.
  expect_equal(predict(load_model(path, device = "auto"), x, step = 1), predict(m, x, step = 1),
               tolerance = 1e-4)
  expect_error(load_model(path, device = "tpu"), "tpu", class = "ijkonet_invalid_argument")
  expect_error(load_model(path, device = c("cpu", "cpu")), "single string")
})

test_that("save_model and load_model round-trip predictions", {
  m <- trained_model()
  path <- tempfile(fileext = ".safetensors")
  on.exit(unlink(path))
  save_model(m, path)
  loaded <- load_model(path)
  expect_output(print(loaded), "loaded")
  x <- tiny_data()$x[1:6, ]
  expect_equal(predict(loaded, x, step = 1), predict(m, x, step = 1))
  expect_equal(potential(loaded, x), potential(m, x))
  expect_error(fit(loaded, epochs = 1, progress = FALSE), class = "ijkonet_state")
})

test_that("errors are ijkonet_error conditions carrying the library's message", {
  expect_error(ijkonet_model(learning_rate = 1), "learning_rate", class = "ijkonet_error")
  expect_error(ijkonet_model(variant = "V+X"), class = "ijkonet_invalid_argument")
  expect_error(ijkonet_model(epochs = -1), "epochs", class = "ijkonet_error")
  m <- tiny_model()
  expect_error(predict(m, matrix(0, 2, 2)), class = "ijkonet_state")
  d <- tiny_data()
  # One snapshot only: the library refuses to train.
  expect_error(fit(m, d$x[d$time == 0, ], rep(0, sum(d$time == 0)), epochs = 1, progress = FALSE),
               class = "ijkonet_invalid_data")
  bad <- d$x
  bad[1, 1] <- NaN
  expect_error(fit(tiny_model(), bad, d$time, epochs = 1, progress = FALSE), class = "ijkonet_error")
  expect_error(fit(tiny_model(), d$x, d$time[-1]), "one entry per row")
  expect_error(load_model(tempfile()), class = "ijkonet_io")
  tm <- trained_model()
  expect_error(predict(tm, matrix(0, 2, 3)), class = "ijkonet_invalid_argument")
  cond <- tryCatch(potential(tm, matrix(0, 2, 5)), ijkonet_error = function(e) e)
  expect_true(nchar(conditionMessage(cond)) > 0)
  expect_equal(cond$code, 1L)
})

test_that("an error in the progress callback cancels training and surfaces with its own message", {
  m <- tiny_model()
  d <- tiny_data()
  fit(m, d$x, d$time, epochs = 1, progress = FALSE)
  calls <- 0
  failing <- function(p) {
    calls <<- calls + 1
    stop("my message")
  }
  # The error is carried past the library (never longjmp'd through its frames) and resumed afterwards,
  # as the callback's own condition: message and class, not a generic "cancelled".
  expect_error(fit(m, epochs = 5, progress = FALSE, callback = failing), "my message", class = "simpleError")
  expect_equal(calls, 1)
  expect_output(expect_error(fit(m, epochs = 5, progress = TRUE, callback = failing), "my message"))
  classed <- function(p) stop(structure(class = c("my_condition", "error", "condition"),
                                        list(message = "custom condition", call = NULL)))
  expect_error(.Call(ijkonet:::ijk_r_train, m$ptr, 3, classed, environment()), "custom condition",
               class = "my_condition")
  # Returning TRUE cancels with the library's status.
  expect_error(fit(m, epochs = 3, progress = FALSE, callback = function(p) TRUE), class = "ijkonet_cancelled")
  # The callback sees the progress as a named list; training resumes after each cancellation.
  seen <- list()
  fit(m, epochs = 2, progress = FALSE, callback = function(p) {
    seen[[length(seen) + 1L]] <<- p
    FALSE
  })
  expect_named(seen[[1]], c("epoch", "epochs", "energy_loss", "map_loss", "metric"))
  expect_equal(seen[[2]]$epoch - seen[[1]]$epoch, 1)
  expect_equal(seen[[1]]$epochs, 2)
  expect_true(is.finite(seen[[1]]$energy_loss))
  expect_error(fit(m, epochs = 1, progress = FALSE, callback = "no"), "callback must be a function")
  # An error while the condition unwinds leaves nothing locked: the model still trains and answers.
  expect_silent(fit(m, epochs = 1, progress = FALSE))
  expect_equal(dim(predict(m, d$x[1:3, ], step = 1)), c(3L, 2L))
})

test_that("an interrupt (Ctrl-C, SIGINT) during training cancels it cleanly", {
  skip_on_os("windows")
  m <- tiny_model()
  d <- tiny_data()
  fit(m, d$x, d$time, epochs = 1, progress = FALSE)
  epochs_seen <- 0
  interrupt_self <- function(p) {
    epochs_seen <<- epochs_seen + 1
    tools::pskill(Sys.getpid(), tools::SIGINT)
    Sys.sleep(0.2)
    FALSE
  }
  expect_error(.Call(ijkonet:::ijk_r_train, m$ptr, 50, interrupt_self, environment()), class = "ijkonet_cancelled")
  expect_lt(epochs_seen, 3)
  expect_silent(fit(m, epochs = 1, progress = FALSE))
})

test_that("every method trains, predicts and round-trips through the same calls", {
  d <- tiny_data()
  x0 <- d$x[d$time == 0, ]
  extra <- list(
    ijkonet = list(),
    jkonet_star = list(star_gmm_components = 2),
    jkonet_star_linear = list(star_poly_degree = 2, star_rbf_centres = 3),
    jkonet = list(jkonet_icnn_hidden = 8, jkonet_inner_steps = 3, jkonet_predict_steps = 5)
  )
  for (method in names(extra)) {
    m <- do.call(tiny_model, c(list(method = method), extra[[method]]))
    fit(m, d$x, d$time, epochs = 2, progress = FALSE)
    p <- predict(m, x0, step = 1)
    expect_equal(dim(p), dim(x0), info = method)
    expect_true(all(is.finite(p)), info = method)
    expect_true(all(is.finite(grad_potential(m, x0))), info = method)
    path <- tempfile(fileext = ".safetensors")
    save_model(m, path)
    expect_equal(predict(load_model(path), x0, step = 1), p, tolerance = 1e-6, info = method)
    unlink(path)
  }
  # The closed form captures the drift to the right (+0.5 per time unit) in one solve.
  m <- tiny_model(method = "jkonet_star_linear", star_poly_degree = 2, star_rbf_centres = 3)
  fit(m, d$x, d$time, epochs = 1, progress = FALSE)
  shift <- mean(predict(m, x0, step = 1)[, 1] - x0[, 1])
  expect_gt(shift, 0.2)
})

test_that("wasserstein1 is the exact W1 distance", {
  x <- tiny_data()$x[1:10, ]
  # A translation by a = (3, 4) costs exactly |a| = 5.
  expect_equal(wasserstein1(x, sweep(x, 2, c(3, 4), "+")), 5, tolerance = 1e-12)
  expect_equal(wasserstein1(x, x), 0)
  expect_equal(wasserstein1(x[1:4, ], x), wasserstein1(x, x[1:4, ]), tolerance = 1e-12)
  expect_error(wasserstein1(x, x[, 1, drop = FALSE]), "columns")
})

test_that("baseline_predict gives the naive predictions of a step", {
  m <- trained_model()
  d <- tiny_data()
  x0 <- d$x[d$time == 0, ]
  x1 <- d$x[d$time == 1, ]
  # No motion: the cells themselves, exactly.
  expect_identical(baseline_predict(m, x0, 1, "no_motion"), x0)
  # Mean shift: every cell moves by the difference of the training snapshots' means.
  s <- baseline_predict(m, x0, step = 1, baseline = "mean_shift")
  expect_equal(unname(s - x0), matrix(colMeans(x1) - colMeans(x0), nrow(x0), 2L, byrow = TRUE),
               tolerance = 1e-12)
  # Affine OT (the default): maps the training snapshot's mean onto the next one's.
  a <- baseline_predict(m, x0, step = 1)
  expect_equal(dim(a), dim(x0))
  expect_equal(colnames(a), c("PC1", "PC2"))
  expect_equal(colMeans(a), colMeans(x1), tolerance = 1e-9)
  expect_false(isTRUE(all.equal(a, s)))
  # Step 2 uses the fits of snapshots 2 and 3.
  x2 <- d$x[d$time == 2, ]
  expect_equal(unname(baseline_predict(m, x1, 2, "mean_shift") - x1),
               matrix(colMeans(x2) - colMeans(x1), nrow(x1), 2L, byrow = TRUE), tolerance = 1e-12)
  expect_error(baseline_predict(m, x0, step = 3), "step 2 out of range", class = "ijkonet_invalid_argument")
  expect_error(baseline_predict(m, x0, step = 0), "positive integer")
  expect_error(baseline_predict(m, x0, step = 1, baseline = "linear"), "should be one of")
  expect_error(baseline_predict(m, matrix(0, 2, 3), step = 1), class = "ijkonet_invalid_argument")
  expect_error(baseline_predict(tiny_model(), x0, step = 1), class = "ijkonet_state")
})

test_that("evaluate compares the model with the naive predictions on held-out data", {
  m <- trained_model()
  h <- held_out_data()
  ev <- evaluate(m, h$x, h$time)
  expect_s3_class(ev, "data.frame")
  expect_equal(nrow(ev), length(snapshot_times(m)) - 1L)
  expect_named(ev, c("step", "t_from", "t_to", "model_w1", "no_motion", "mean_shift", "affine_ot",
                     "best_baseline", "beats_baselines"))
  expect_equal(ev$step, 1:2)
  expect_equal(ev$t_from, c(0, 1))
  expect_equal(ev$t_to, c(1, 2))
  w <- as.matrix(ev[, c("model_w1", "no_motion", "mean_shift", "affine_ot")])
  expect_true(all(is.finite(w)) && all(w >= 0))
  for (k in 1:2) {
    xk <- h$x[h$time == k - 1, ]
    xn <- h$x[h$time == k, ]
    # No motion is the W1 between the two observed snapshots.
    expect_equal(ev$no_motion[[k]], wasserstein1(xk, xn), tolerance = 1e-12)
    expect_equal(ev$model_w1[[k]], wasserstein1(predict(m, xk, step = k), xn), tolerance = 1e-9)
    expect_equal(ev$mean_shift[[k]], wasserstein1(baseline_predict(m, xk, k, "mean_shift"), xn),
                 tolerance = 1e-12)
    expect_equal(ev$affine_ot[[k]], wasserstein1(baseline_predict(m, xk, k, "affine_ot"), xn),
                 tolerance = 1e-12)
  }
  best <- c("no_motion", "mean_shift", "affine_ot")[apply(w[, 2:4, drop = FALSE], 1, which.min)]
  expect_equal(ev$best_baseline, best)
  expect_equal(ev$beats_baselines, w[, 1] < apply(w[, 2:4, drop = FALSE], 1, min))
  # The same through a factor, a data frame and a loaded model.
  expect_equal(evaluate(m, as.data.frame(h$x), factor(h$time)), ev)
  path <- tempfile(fileext = ".safetensors")
  on.exit(unlink(path))
  save_model(m, path)
  expect_equal(evaluate(load_model(path), h$x, h$time), ev, tolerance = 1e-6)
  # Only the steps whose two times are present.
  keep <- h$time != 2
  ev1 <- evaluate(m, h$x[keep, ], h$time[keep])
  expect_equal(nrow(ev1), 1L)
  expect_equal(ev1[, 1:7], ev[1, 1:7], ignore_attr = TRUE)
  keep <- h$time != 1
  expect_error(evaluate(m, h$x[keep, ], h$time[keep]), "no two consecutive")
  expect_error(evaluate(m, h$x, h$time + 5), "not a snapshot time")
  expect_error(evaluate(m, h$x, h$time[-1]), "one entry per row")
  expect_error(evaluate(tiny_model(), h$x, h$time), class = "ijkonet_state")
})
