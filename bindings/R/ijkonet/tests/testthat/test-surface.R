# The R user's surface of issue 16: dim, theta3, interaction_field, rollout, per-row times, clone,
# model_info, epochs_done, summary/print, plot, and fit() on a data frame with a time column.

test_that("dim, theta3, epochs_done and model_info describe a trained model", {
  m <- trained_model()
  expect_identical(dim(m), 2L)
  expect_null(dim(tiny_model())) # still collecting: no dimension yet, and no error
  expect_equal(theta3(m), 0) # variant "V" has no internal energy
  expect_equal(epochs_done(m), 2)
  fit(m, epochs = 1, progress = FALSE)
  expect_equal(epochs_done(m), 3)
  info <- model_info(m)
  expect_named(info, c("method", "variant", "device", "centre", "scale"))
  expect_equal(info$method, "ijkonet")
  expect_equal(info$variant, "V")
  expect_equal(info$device, "cpu")
  expect_length(info$centre, 2L)
  expect_true(all(is.finite(info$centre)) && all(info$scale > 0))
  expect_error(theta3(tiny_model()), class = "ijkonet_state")
  expect_error(epochs_done(tiny_model()), class = "ijkonet_state")
  expect_error(model_info(tiny_model()), class = "ijkonet_state")
  # A variant with a diffusion term has its own theta3.
  d <- tiny_data()
  mt <- tiny_model(variant = "V+U")
  fit(mt, d$x, d$time, epochs = 1, progress = FALSE)
  expect_true(is.finite(theta3(mt)) && theta3(mt) >= 0)
  expect_equal(model_info(mt)$variant, "V+U")
})

test_that("rollout chains the learned maps and returns one matrix per step", {
  m <- trained_model()
  x0 <- tiny_data()$x[1:5, ]
  r <- rollout(m, x0)
  expect_type(r, "list")
  expect_named(r, c("1", "2"))
  expect_equal(r[[1]], predict(m, x0, step = 1))
  expect_equal(r[[2]], predict(m, r[[1]], step = 2), tolerance = 1e-6)
  expect_equal(colnames(r[[2]]), c("PC1", "PC2"))
  r2 <- rollout(m, x0[1, , drop = FALSE], from_step = 2, steps = 1)
  expect_named(r2, "2")
  expect_equal(dim(r2[[1]]), c(1L, 2L)) # one row stays a matrix
  expect_error(rollout(m, x0, from_step = 2, steps = 2), class = "ijkonet_invalid_argument")
  expect_error(rollout(m, x0, steps = 0), "steps must be")
  expect_error(rollout(m, x0, from_step = 0), "positive integer")
})

test_that("potential and grad_potential take one time or one time per row", {
  d <- tiny_data()
  m <- tiny_model(variant = "t,V")
  fit(m, d$x, d$time, epochs = 2, progress = FALSE)
  x <- d$x[1:4, ]
  tt <- c(0, 0.5, 1, 2)
  v <- potential(m, x, t = tt)
  g <- grad_potential(m, x, t = tt)
  for (i in 1:4) {
    expect_equal(v[[i]], potential(m, x[i, , drop = FALSE], t = tt[[i]]), tolerance = 1e-6)
    expect_equal(g[i, ], grad_potential(m, x[i, , drop = FALSE], t = tt[[i]])[1, ], tolerance = 1e-6)
  }
  # One time is the same as that time repeated.
  expect_equal(potential(m, x, t = 1), potential(m, x, t = rep(1, 4)), tolerance = 1e-6)
  expect_error(potential(m, x, t = c(0, 1)), "one time per row")
  expect_error(grad_potential(m, x, t = c(0, 1, 2)), "one time per row")
  expect_error(potential(m, x, t = c(0, NaN, 1, 2)), class = "ijkonet_invalid_argument")
})

test_that("interaction_field needs a variant with an interaction term", {
  d <- tiny_data()
  mw <- tiny_model(variant = "V+W")
  fit(mw, d$x, d$time, epochs = 1, progress = FALSE)
  f <- interaction_field(mw, d$x[1:3, ], d$x)
  expect_equal(dim(f), c(3L, 2L))
  expect_equal(colnames(f), c("PC1", "PC2"))
  expect_true(all(is.finite(f)))
  # Averaged over the population: the field at a point over a population of copies of one point
  # is the field over that one point.
  p1 <- d$x[5, , drop = FALSE]
  expect_equal(interaction_field(mw, d$x[1:3, ], p1), interaction_field(mw, d$x[1:3, ], p1[c(1, 1, 1), ]),
               tolerance = 1e-6)
  expect_error(interaction_field(mw, d$x[1:3, ], d$x[, 1, drop = FALSE]), "columns")
  expect_error(interaction_field(trained_model(), d$x[1:3, ], d$x), class = "ijkonet_state")
})

test_that("clone_model gives an independent queryable copy", {
  m <- trained_model()
  x <- tiny_data()$x
  c1 <- clone_model(m)
  expect_output(print(c1), "loaded")
  expect_equal(potential(c1, x), potential(m, x))
  expect_equal(predict(c1, x[1:5, ]), predict(m, x[1:5, ]))
  expect_error(fit(c1, epochs = 1, progress = FALSE), class = "ijkonet_state")
  # Training the original leaves the clone as it was.
  before <- potential(c1, x)
  fit(m, epochs = 2, progress = FALSE)
  expect_equal(potential(c1, x), before)
  expect_error(clone_model(tiny_model()), class = "ijkonet_state")
})

test_that("summary and print describe the model", {
  m <- trained_model()
  s <- summary(m)
  expect_s3_class(s, "summary.ijkonet_model")
  expect_equal(s$method, "ijkonet")
  expect_equal(s$variant, "V")
  expect_equal(s$dimension, 2L)
  expect_equal(s$times, c(0, 1, 2))
  expect_equal(s$epochs, 2)
  expect_equal(s$device, "cpu")
  expect_equal(s$colnames, c("PC1", "PC2")) # fit() records the column names in the caller's object
  out <- capture.output(print(s))
  for (what in c("method +ijkonet", "variant +V", "dimension +2 \\(PC1, PC2\\)", "snapshot times +0, 1, 2",
                 "epochs done +2", "normalisation +centre", "device +cpu")) {
    expect_true(any(grepl(what, out)), info = what)
  }
  expect_output(print(summary(tiny_model())), "collecting")
  expect_output(print(m), "ijkonet, variant V, dimension 2, snapshot times 0 1 2, 2 epochs")
  expect_output(print(tiny_model()), "collecting")
})

test_that("plot draws level curves of V with the snapshots", {
  m <- trained_model()
  d <- tiny_data()
  path <- tempfile(fileext = ".pdf")
  grDevices::pdf(path)
  on.exit({
    grDevices::dev.off()
    unlink(path)
  })
  res <- plot(m)
  expect_equal(length(res$x), 60L)
  expect_equal(dim(res$z), c(60L, 60L))
  # The grid values are V at those points.
  expect_equal(res$z[3, 7], unname(potential(m, cbind(res$x[[3]], res$y[[7]]))), tolerance = 1e-6)
  res <- plot(m, d$x, d$time, grid = 20, t = 1, main = "mine")
  expect_equal(dim(res$z), c(20L, 20L))
  expect_equal(res$t, 1)
  expect_true(min(res$x) <= min(d$x[, 1]) && max(res$x) >= max(d$x[, 1]))
  res <- plot(m, data.frame(d$x, day = d$time), time = "day", dims = c("PC2", "PC1"))
  expect_equal(res$dims, c(2L, 1L))
  expect_error(plot(m, dims = c(1, 3)), "dims must be two different coordinates between 1 and 2")
  expect_error(plot(m, dims = c(1, 1)), "dims must be")
  expect_error(plot(m, dims = 1), "dims must be")
  expect_error(plot(m, dims = c("PC1", "PC9")), '"PC9" not a column')
  expect_error(plot(m, grid = 1), "grid must be")
  expect_error(plot(m, d$x[, 1, drop = FALSE], d$time), "dimension 2")
  expect_error(plot(m, time = d$time), "without data")
  expect_error(plot(tiny_model()), "not trained")
  # Coordinates beyond the two plotted stay at the normalisation centre.
  x3 <- cbind(d$x, PC3 = stats::rnorm(nrow(d$x)))
  m3 <- tiny_model()
  fit(m3, x3, d$time, epochs = 1, progress = FALSE)
  res <- plot(m3, dims = c(1, 3), grid = 5)
  centre <- model_info(m3)$centre
  expect_equal(res$z[2, 4], unname(potential(m3, cbind(res$x[[2]], centre[[2]], res$y[[4]]))), tolerance = 1e-6)
})

test_that("fit and evaluate take a data frame with a time column", {
  d <- tiny_data()
  df <- data.frame(d$x, day = d$time)
  m <- tiny_model()
  fit(m, df, time = "day", epochs = 2, progress = FALSE)
  expect_equal(snapshot_times(m), c(0, 1, 2))
  expect_equal(dim(m), 2L)
  expect_equal(summary(m)$colnames, c("PC1", "PC2"))
  # The same model as the matrix form.
  m2 <- trained_model()
  expect_equal(predict(m, d$x[1:4, ]), predict(m2, d$x[1:4, ]))
  # Time column first, labels with time_values, integer coordinates.
  df2 <- data.frame(stage = c("day2", "day10", "day30")[d$time + 1], a = round(d$x[, 1] * 10), b = d$x[, 2])
  m3 <- tiny_model()
  fit(m3, df2, time = "stage", time_values = c(day2 = 2, day10 = 10, day30 = 30), epochs = 1, progress = FALSE)
  expect_equal(snapshot_times(m3), c(2, 10, 30))
  expect_error(fit(tiny_model(), df2, time = "stage", progress = FALSE), "time_values")
  # Numeric labels in a character column are those numbers.
  m4 <- tiny_model()
  fit(m4, data.frame(d$x, t = as.character(d$time * 3)), time = "t", epochs = 1, progress = FALSE)
  expect_equal(snapshot_times(m4), c(0, 3, 6))
  # Non-numeric coordinate columns are refused by name.
  bad <- data.frame(d$x, day = d$time, cluster = "a", batch = factor("b"))
  expect_error(fit(tiny_model(), bad, time = "day", progress = FALSE),
               'non-numeric columns "cluster", "batch"')
  expect_error(fit(tiny_model(), data.frame(d$x, cl = "a"), d$time, progress = FALSE),
               'non-numeric column "cl"')
  expect_error(fit(tiny_model(), df, time = "Day", progress = FALSE), '"Day" is not a column.*"day"')
  expect_error(fit(tiny_model(), df["day"], time = "day", progress = FALSE), "no coordinate columns")
  # evaluate reads the same form.
  h <- held_out_data()
  expect_equal(evaluate(m, data.frame(h$x, day = h$time), "day"), evaluate(m, h$x, h$time))
})
