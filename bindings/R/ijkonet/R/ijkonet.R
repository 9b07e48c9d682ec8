# R interface to the ijkonet C ABI. Every call goes through the .Call shim in src/ijkonet_r.c, which
# turns library failures into conditions of class "ijkonet_error" via .ijk_raise().

.ijk_codes <- c("invalid_argument", "invalid_data", "io", "format", "numerical", "state", "torch",
                "cancelled", "internal", "panic")

# Called from C: signal the library's error as an R condition carrying its code and message.
.ijk_raise <- function(code, message) {
  kind <- if (code >= 1L && code <= length(.ijk_codes)) .ijk_codes[[code]] else "unknown"
  cond <- structure(
    class = c(paste0("ijkonet_", kind), "ijkonet_error", "error", "condition"),
    list(message = message, call = sys.call(-1L), code = code, kind = kind)
  )
  stop(cond)
}

# An R value as the string the library's configuration parser reads.
.ijk_option_string <- function(key, value) {
  if (is.null(value) || length(value) == 0L) {
    stop(sprintf("option '%s' has no value", key), call. = FALSE)
  }
  if (is.logical(value)) {
    return(paste(ifelse(value, "true", "false"), collapse = ","))
  }
  if (is.numeric(value)) {
    # Whole numbers without exponent notation: integer keys reject "1e+05".
    parts <- vapply(value, function(v) {
      if (is.finite(v) && v == round(v) && abs(v) < 2^53) format(v, scientific = FALSE, trim = TRUE)
      else sprintf("%.17g", v)
    }, character(1))
    return(paste(parts, collapse = ","))
  }
  paste(as.character(value), collapse = ",")
}

ijkonet_version <- function() .Call(ijk_r_version)

ijkonet_model <- function(method = "ijkonet", variant = "V", ...) {
  opts <- c(list(method = method, variant = variant), list(...))
  keys <- names(opts)
  if (is.null(keys) || any(keys == "")) stop("every option must be named, e.g. epochs = 10", call. = FALSE)
  values <- vapply(seq_along(opts), function(i) .ijk_option_string(keys[[i]], opts[[i]]), character(1))
  ptr <- .Call(ijk_r_model_new, keys, values)
  .ijk_new_model(ptr, stats::setNames(values, keys))
}

# The R object around a handle. `meta` is an environment so that what fit() learns about the data
# (its column names) reaches the caller's object, which fit() cannot reassign (R copies lists).
.ijk_new_model <- function(ptr, options = NULL, colnames = NULL) {
  meta <- new.env(parent = emptyenv())
  meta$colnames <- colnames
  structure(list(ptr = ptr, options = options, meta = meta), class = "ijkonet_model")
}

.ijk_colnames <- function(model) if (is.environment(model$meta)) model$meta$colnames

.ijk_state <- function(model) {
  c("collecting", "trained", "failed", "loaded")[.Call(ijk_r_state, model$ptr) + 1L]
}

fit <- function(object, ...) UseMethod("fit")

# Labels that are plain decimal numbers ("0", "2.5", "-1e3"); hexadecimal, "Inf" and "NaN", which
# as.numeric() would also accept, are not times anyone writes as labels.
.ijk_numeric_label <- function(labels) {
  grepl("^[[:space:]]*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?[[:space:]]*$", labels)
}

# A few labels for an error message.
.ijk_quote_labels <- function(labels, max = 5L) {
  shown <- paste0('"', utils::head(labels, max), '"', collapse = ", ")
  if (length(labels) > max) paste0(shown, sprintf(" and %d more", length(labels) - max)) else shown
}

# The numeric time of every entry of `time` (NA stays NA). Numbers are used as they are; labels
# (factor or character) must either all be numbers or be mapped by `time_values`, a named numeric
# vector label -> time. Mapping other labels to 0, 1, 2, ... in level order would silently scramble
# the snapshots ("day10" sorts before "day2"), so they are refused.
.ijk_time_values <- function(time, time_values = NULL) {
  if (is.numeric(time)) {
    if (!is.null(time_values)) {
      stop("time_values maps time labels to times, but time is already numeric", call. = FALSE)
    }
    tv <- as.numeric(time)
  } else if (is.factor(time) || is.character(time)) {
    labels <- as.character(time)
    present <- unique(labels[!is.na(labels)])
    if (!is.null(time_values)) {
      if (!is.numeric(time_values) || is.null(names(time_values)) || any(names(time_values) == "") ||
          anyDuplicated(names(time_values))) {
        stop("time_values must be a numeric vector with one unique name per time label, ",
             "e.g. c(day2 = 2, day10 = 10)", call. = FALSE)
      }
      if (any(!is.finite(time_values))) stop("time_values must be finite numbers", call. = FALSE)
      unmapped <- setdiff(present, names(time_values))
      if (length(unmapped) > 0L) {
        stop(sprintf("time_values has no time for the label%s %s", if (length(unmapped) > 1L) "s" else "",
                     .ijk_quote_labels(unmapped)), call. = FALSE)
      }
      tv <- unname(as.numeric(time_values)[match(labels, names(time_values))])
    } else {
      bad <- present[!.ijk_numeric_label(present)]
      if (length(bad) > 0L) {
        stop(sprintf(paste0("time label%s %s %s; give the time of every label with ",
                            "time_values, e.g. time_values = c(\"%s\" = <time>, ...)"),
                     if (length(bad) > 1L) "s" else "", .ijk_quote_labels(bad),
                     if (length(bad) > 1L) "are not numbers" else "is not a number", bad[[1]]), call. = FALSE)
      }
      tv <- as.numeric(labels)
    }
  } else {
    stop("time must be a numeric vector, a factor or a character vector", call. = FALSE)
  }
  if (anyNA(tv)) stop("time must not contain NA", call. = FALSE)
  if (any(!is.finite(tv))) stop("times must be finite numbers", call. = FALSE)
  tv
}

# Cells and their times, from either a numeric matrix (or data frame of coordinates) with one time
# per row, or a data frame with the name of its time column (the other columns are the
# coordinates): list(x = double matrix, time = the time entries, not yet converted to numbers).
.ijk_data <- function(x, time) {
  if (is.data.frame(x) && is.character(time) && length(time) == 1L && !is.na(time) &&
      (time %in% names(x) || nrow(x) != 1L)) {
    if (!time %in% names(x)) {
      stop(sprintf("time = \"%s\" is not a column of the data frame (columns: %s)", time,
                   .ijk_quote_labels(names(x), max = 10L)), call. = FALSE)
    }
    tcol <- x[[time]]
    x <- x[names(x) != time]
    if (ncol(x) == 0L) stop("the data frame has no coordinate columns besides the time column", call. = FALSE)
    time <- tcol
  }
  if (is.data.frame(x)) {
    # as.matrix() would turn a single character column into a character matrix: name the culprits.
    bad <- names(x)[!vapply(x, is.numeric, logical(1))]
    if (length(bad) > 0L) {
      stop(sprintf("non-numeric column%s %s: coordinates must be numbers (drop %s, or name the time column with time = \"<column>\")",
                   if (length(bad) > 1L) "s" else "", .ijk_quote_labels(bad),
                   if (length(bad) > 1L) "them" else "it"), call. = FALSE)
    }
    x <- as.matrix(x)
  }
  if (!is.matrix(x) || !is.numeric(x)) stop("x must be a numeric matrix (cells x features)", call. = FALSE)
  storage.mode(x) <- "double"
  if (is.null(time) || length(time) != nrow(x)) {
    stop(sprintf("time must have one entry per row of x (%d rows, %d times)", nrow(x), length(time)),
         call. = FALSE)
  }
  list(x = x, time = time)
}

fit.ijkonet_model <- function(object, x = NULL, time = NULL, epochs = 0, progress = interactive(),
                              callback = NULL, time_values = NULL, ...) {
  if (!is.null(x)) {
    if (.ijk_state(object) != "collecting") {
      stop("this model already has its data; call fit(model) without x and time to continue training",
           call. = FALSE)
    }
    cells <- .ijk_data(x, time)
    x <- cells$x
    tv <- .ijk_time_values(cells$time, time_values)
    for (t in sort(unique(tv))) {
      .Call(ijk_r_add_snapshot, object$ptr, t, x[tv == t, , drop = FALSE])
    }
    object$meta$colnames <- colnames(x)
  } else if (!is.null(time)) {
    stop("time given without x", call. = FALSE)
  } else if (!is.null(time_values)) {
    stop("time_values given without x and time", call. = FALSE)
  }
  if (!is.numeric(epochs) || length(epochs) != 1L || is.na(epochs) || epochs < 0) {
    stop("epochs must be a single non-negative number", call. = FALSE)
  }
  if (!is.null(callback) && !is.function(callback)) {
    stop("callback must be a function(progress) or NULL", call. = FALSE)
  }
  user_callback <- callback
  if (isTRUE(progress)) {
    bar <- NULL
    start <- NA_real_
    callback <- function(p) {
      if (is.null(bar)) {
        start <<- p$epoch - 1
        bar <<- utils::txtProgressBar(min = 0, max = max(p$epochs, 1), style = 3)
      }
      utils::setTxtProgressBar(bar, p$epoch - start)
      if (p$epoch - start >= p$epochs) close(bar)
      if (is.null(user_callback)) FALSE else user_callback(p)
    }
  }
  .Call(ijk_r_train, object$ptr, epochs, callback, environment())
  invisible(object)
}

# Called from C after each epoch (under R_UnwindProtect): TRUE to stop, FALSE to go on, NA when the
# user interrupted (Ctrl-C). An interrupt cancels training with an ijkonet_cancelled error, as
# documented; any other condition that leaves the callback (an error) is carried past the library
# by the C side and resumes once training has returned.
.ijk_progress_call <- function(fun, p) {
  tryCatch(isTRUE(fun(p)), interrupt = function(e) NA)
}

snapshot_times <- function(model) .Call(ijk_r_times, model$ptr)

.ijk_matrix <- function(x, name = "x") {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (is.numeric(x) && is.null(dim(x))) x <- matrix(x, nrow = 1L)
  if (!is.matrix(x) || !is.numeric(x)) stop(sprintf("%s must be a numeric matrix", name), call. = FALSE)
  storage.mode(x) <- "double"
  x
}

.ijk_names <- function(out, x) {
  colnames(out) <- colnames(x)
  rownames(out) <- rownames(x)
  out
}

predict.ijkonet_model <- function(object, newdata, step = 1L, to_time = NULL, from_time = NULL, ...) {
  x <- .ijk_matrix(newdata, "newdata")
  if (is.null(to_time)) {
    if (!is.numeric(step) || length(step) != 1L || is.na(step) || step < 1 || step != round(step)) {
      stop("step must be a single positive integer (the snapshot to start from)", call. = FALSE)
    }
    out <- .Call(ijk_r_predict_step, object$ptr, as.integer(step - 1L), x)
  } else {
    if (is.null(from_time)) from_time <- snapshot_times(object)[[step]]
    out <- .Call(ijk_r_predict_at, object$ptr, x, as.numeric(from_time), as.numeric(to_time))
  }
  .ijk_names(out, x)
}

simulate.ijkonet_model <- function(object, nsim = 1, seed = NULL, x0, t0 = 0, dt = 0.1, n_steps = 10L, ...) {
  if (!identical(as.numeric(nsim), 1)) stop("only nsim = 1 is supported", call. = FALSE)
  if (is.null(seed)) seed <- floor(stats::runif(1L, 0, 2^31 - 1))
  x <- .ijk_matrix(x0, "x0")
  out <- .Call(ijk_r_simulate, object$ptr, x, as.numeric(t0), as.numeric(dt), as.numeric(n_steps),
               as.numeric(seed))
  dimnames(out) <- list(rownames(x), colnames(x), NULL)
  out
}

# `t`: one time for all rows, or one per row (the library's *_rows queries).
potential <- function(model, x, t = 0) {
  x <- .ijk_matrix(x)
  out <- .Call(ijk_r_potential, model$ptr, x, as.double(t))
  names(out) <- rownames(x)
  out
}

grad_potential <- function(model, x, t = 0) {
  x <- .ijk_matrix(x)
  .ijk_names(.Call(ijk_r_grad_potential, model$ptr, x, as.double(t)), x)
}

interaction_field <- function(model, x, population) {
  x <- .ijk_matrix(x)
  .ijk_names(.Call(ijk_r_interaction_field, model$ptr, x, .ijk_matrix(population, "population")), x)
}

theta3 <- function(model) .Call(ijk_r_theta3, model$ptr)

epochs_done <- function(model) .Call(ijk_r_epochs_done, model$ptr)

# The data dimension; NULL while the model is still collecting data (as dim() of a non-array), so
# that tools calling dim() on any object (str, IDE object browsers) do not fail.
dim.ijkonet_model <- function(x) {
  if (.ijk_state(x) == "collecting") NULL else .Call(ijk_r_dim, x$ptr)
}

rollout <- function(model, x, from_step = 1L, steps = NULL) {
  x <- .ijk_matrix(x)
  .ijk_check_step(from_step)
  times <- snapshot_times(model)
  if (is.null(steps)) steps <- length(times) - from_step
  if (!is.numeric(steps) || length(steps) != 1L || is.na(steps) || steps < 1 || steps != round(steps)) {
    stop("steps must be a single positive integer", call. = FALSE)
  }
  out <- .Call(ijk_r_rollout, model$ptr, as.integer(from_step - 1L), as.integer(steps), x)
  # matrix() keeps the shape of one-row or one-column slices, which [, , k] would drop.
  res <- lapply(seq_len(steps), function(k) .ijk_names(matrix(out[, , k], nrow(x), ncol(x)), x))
  names(res) <- format(times[from_step + seq_len(steps)], trim = TRUE)
  res
}

clone_model <- function(model) {
  .ijk_new_model(.Call(ijk_r_clone, model$ptr), model$options, .ijk_colnames(model))
}

# "centre=c1,c2,...;scale=s" as list(centre = numeric, scale = numeric).
.ijk_parse_normalisation <- function(s) {
  parts <- strsplit(strsplit(s, ";", fixed = TRUE)[[1L]], "=", fixed = TRUE)
  vals <- lapply(parts, function(p) as.numeric(strsplit(p[[2L]], ",", fixed = TRUE)[[1L]]))
  names(vals) <- vapply(parts, function(p) trimws(p[[1L]]), character(1))
  vals
}

model_info <- function(model) {
  info <- lapply(c(method = "method", variant = "variant", device = "device"),
                 function(k) .Call(ijk_r_info, model$ptr, k))
  norm <- .ijk_parse_normalisation(.Call(ijk_r_info, model$ptr, "normalisation"))
  c(info, list(centre = norm$centre, scale = norm$scale))
}

summary.ijkonet_model <- function(object, ...) {
  state <- .ijk_state(object)
  out <- list(state = state, colnames = .ijk_colnames(object))
  if (state == "collecting") {
    opts <- object$options
    out$method <- if (!is.null(opts)) unname(opts[["method"]]) else NA_character_
    out$variant <- if (!is.null(opts)) unname(opts[["variant"]]) else NA_character_
  } else {
    out <- c(out, model_info(object))
    out$dimension <- .Call(ijk_r_dim, object$ptr)
    out$times <- snapshot_times(object)
    out$epochs <- epochs_done(object)
    out$theta3 <- theta3(object)
  }
  structure(out, class = "summary.ijkonet_model")
}

.ijk_fmt <- function(v) paste(format(v, digits = 4, trim = TRUE), collapse = ", ")

print.summary.ijkonet_model <- function(x, ...) {
  cat(sprintf("ijkonet model (%s)\n", x$state))
  row <- function(label, value) cat(sprintf("  %-15s %s\n", label, value))
  row("method", x$method)
  row("variant", x$variant)
  if (x$state == "collecting") {
    cat("  not trained yet: fit(model, x, time) adds the snapshots and trains\n")
    return(invisible(x))
  }
  row("dimension", if (is.null(x$colnames)) x$dimension else
        sprintf("%d (%s)", x$dimension, paste(x$colnames, collapse = ", ")))
  row("snapshot times", .ijk_fmt(x$times))
  row("epochs done", format(x$epochs, scientific = FALSE))
  row("theta3", format(x$theta3, digits = 4))
  row("normalisation", sprintf("centre (%s), scale %s", .ijk_fmt(x$centre), .ijk_fmt(x$scale)))
  row("device", x$device)
  invisible(x)
}

# Two coordinates to plot: numbers in 1..d or column names of the training data.
.ijk_plot_dims <- function(dims, d, colnames) {
  if (is.character(dims) && !is.null(colnames)) {
    idx <- match(dims, colnames)
    if (anyNA(idx)) {
      stop(sprintf("dims: %s not a column of the training data (%s)", .ijk_quote_labels(dims[is.na(idx)]),
                   paste(colnames, collapse = ", ")), call. = FALSE)
    }
    dims <- idx
  }
  if (!is.numeric(dims) || length(dims) != 2L || anyNA(dims) || any(dims != round(dims)) ||
      any(dims < 1) || any(dims > d) || dims[[1L]] == dims[[2L]]) {
    stop(sprintf("dims must be two different coordinates between 1 and %d (the model's dimension)%s", d,
                 if (is.null(colnames)) "" else ", or two column names"), call. = FALSE)
  }
  as.integer(dims)
}

plot.ijkonet_model <- function(x, data = NULL, time = NULL, dims = c(1, 2), t = NULL, grid = 60,
                               time_values = NULL, nlevels = 15, ...) {
  model <- x
  if (.ijk_state(model) == "collecting") stop("the model is not trained yet", call. = FALSE)
  d <- .Call(ijk_r_dim, model$ptr)
  if (!is.numeric(grid) || length(grid) != 1L || is.na(grid) || grid < 2 || grid > 1000) {
    stop("grid must be a single number between 2 and 1000 (points per axis)", call. = FALSE)
  }
  grid <- as.integer(grid)
  cells <- NULL
  if (!is.null(data)) {
    cd <- .ijk_data(data, time)
    cells <- cd$x
    if (ncol(cells) != d) {
      stop(sprintf("data have %d coordinate columns, the model has dimension %d", ncol(cells), d), call. = FALSE)
    }
    tv <- .ijk_time_values(cd$time, time_values)
  } else if (!is.null(time)) {
    stop("time given without data", call. = FALSE)
  }
  cn <- .ijk_colnames(model)
  if (is.null(cn) && !is.null(cells)) cn <- colnames(cells)
  dims <- .ijk_plot_dims(dims, d, cn)
  if (is.null(t)) t <- snapshot_times(model)[[1L]]
  if (!is.numeric(t) || length(t) != 1L || !is.finite(t)) stop("t must be a single finite time", call. = FALSE)
  norm <- model_info(model)
  centre <- rep_len(norm$centre, d)
  scale <- rep_len(norm$scale, d)
  # The window: the cells (with a margin) when given, else three normalisation scales around the centre.
  window <- function(j) {
    if (!is.null(cells)) {
      r <- range(cells[, j])
      r + c(-1, 1) * max(0.05 * diff(r), 1e-6)
    } else {
      centre[[j]] + c(-3, 3) * scale[[j]]
    }
  }
  xs <- seq(window(dims[[1L]])[[1L]], window(dims[[1L]])[[2L]], length.out = grid)
  ys <- seq(window(dims[[2L]])[[1L]], window(dims[[2L]])[[2L]], length.out = grid)
  # The other coordinates stay at the normalisation centre (the training data's centre).
  pts <- matrix(centre, grid * grid, d, byrow = TRUE)
  pts[, dims[[1L]]] <- rep(xs, times = grid)
  pts[, dims[[2L]]] <- rep(ys, each = grid)
  z <- matrix(potential(model, pts, t), grid, grid)
  labels <- if (!is.null(cn)) cn[dims] else paste("coordinate", dims)
  defaults <- list(nlevels = nlevels, xlab = labels[[1L]], ylab = labels[[2L]],
                   main = sprintf("Learned potential V (t = %s)", format(t)), col = "grey40")
  args <- utils::modifyList(defaults, list(...))
  do.call(graphics::contour, c(list(x = xs, y = ys, z = z), args))
  if (!is.null(cells)) {
    ut <- sort(unique(tv))
    cols <- grDevices::hcl(h = seq(15, 375, length.out = length(ut) + 1L)[seq_along(ut)], c = 100, l = 55)
    graphics::points(cells[, dims[[1L]]], cells[, dims[[2L]]], pch = 19, cex = 0.6, col = cols[match(tv, ut)])
    graphics::legend("topright", legend = format(ut), col = cols, pch = 19, title = "time", bty = "n",
                     cex = 0.8)
  }
  invisible(list(x = xs, y = ys, z = z, dims = dims, t = t))
}

# The C codes of the naive predictions (IJK_BASELINE_* in ijkonet.h).
.ijk_baselines <- c(no_motion = 0L, mean_shift = 1L, affine_ot = 2L)

.ijk_check_step <- function(step) {
  if (!is.numeric(step) || length(step) != 1L || is.na(step) || step < 1 || step != round(step)) {
    stop("step must be a single positive integer (the snapshot to start from)", call. = FALSE)
  }
  invisible(step)
}

baseline_predict <- function(model, x, step, baseline = c("affine_ot", "mean_shift", "no_motion")) {
  baseline <- match.arg(baseline)
  x <- .ijk_matrix(x)
  .ijk_check_step(step)
  out <- .Call(ijk_r_baseline_predict, model$ptr, .ijk_baselines[[baseline]], as.integer(step - 1L), x)
  .ijk_names(out, x)
}

wasserstein1 <- function(x, y) {
  .Call(ijk_r_w1, .ijk_matrix(x, "x"), .ijk_matrix(y, "y"))
}

evaluate <- function(model, x, time, time_values = NULL) {
  cells <- .ijk_data(x, time)
  x <- cells$x
  tv <- .ijk_time_values(cells$time, time_values)
  times <- snapshot_times(model)
  unknown <- setdiff(unique(tv), times)
  if (length(unknown) > 0L) {
    stop(sprintf("time %s is not a snapshot time of the model (%s)", format(unknown[[1]]),
                 paste(format(times), collapse = ", ")), call. = FALSE)
  }
  steps <- which(times[-length(times)] %in% tv & times[-1L] %in% tv)
  if (length(steps) == 0L) {
    stop("the data hold no two consecutive snapshot times of the model: no step to evaluate", call. = FALSE)
  }
  w <- vapply(steps, function(k) {
    .Call(ijk_r_evaluate_step, model$ptr, as.integer(k - 1L), x[tv == times[[k]], , drop = FALSE],
          x[tv == times[[k + 1L]], , drop = FALSE])
  }, numeric(4))
  w <- matrix(w, nrow = 4L)
  baselines <- names(.ijk_baselines)
  out <- data.frame(step = as.integer(steps), t_from = times[steps], t_to = times[steps + 1L],
                    model_w1 = w[1L, ], no_motion = w[2L, ], mean_shift = w[3L, ], affine_ot = w[4L, ])
  best <- apply(w[2:4, , drop = FALSE], 2L, which.min)
  out$best_baseline <- baselines[best]
  out$beats_baselines <- out$model_w1 < w[cbind(best + 1L, seq_along(steps))]
  out
}

save_model <- function(model, path) {
  .Call(ijk_r_save, model$ptr, path)
  invisible(path)
}

load_model <- function(path, device = NULL) {
  if (!is.null(device) && !(is.character(device) && length(device) == 1L && !is.na(device))) {
    stop("device must be NULL or a single string (\"auto\", \"cpu\", \"cuda\" or \"cuda:N\")", call. = FALSE)
  }
  ptr <- .Call(ijk_r_load, path, device)
  .ijk_new_model(ptr)
}

# The short form; summary() gives the long one.
print.ijkonet_model <- function(x, ...) {
  state <- tryCatch(.ijk_state(x), error = function(e) "invalid")
  cat(sprintf("<ijkonet model: %s>\n", state))
  if (state %in% c("trained", "failed", "loaded")) {
    info <- model_info(x)
    cat(sprintf("  %s, variant %s, dimension %d, snapshot times %s, %s epochs\n", info$method, info$variant,
                .Call(ijk_r_dim, x$ptr), paste(format(snapshot_times(x), trim = TRUE), collapse = " "),
                format(epochs_done(x), scientific = FALSE)))
  }
  invisible(x)
}
