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
  structure(list(ptr = ptr, options = stats::setNames(values, keys), colnames = NULL),
            class = "ijkonet_model")
}

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

# Cells as a double matrix (cells x features) with one time per row, or a clear error.
.ijk_cells <- function(x, time) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!is.matrix(x) || !is.numeric(x)) stop("x must be a numeric matrix (cells x features)", call. = FALSE)
  storage.mode(x) <- "double"
  if (is.null(time) || length(time) != nrow(x)) {
    stop(sprintf("time must have one entry per row of x (%d rows, %d times)", nrow(x), length(time)),
         call. = FALSE)
  }
  x
}

fit.ijkonet_model <- function(object, x = NULL, time = NULL, epochs = 0, progress = interactive(),
                              callback = NULL, time_values = NULL, ...) {
  if (!is.null(x)) {
    if (.ijk_state(object) != "collecting") {
      stop("this model already has its data; call fit(model) without x and time to continue training",
           call. = FALSE)
    }
    x <- .ijk_cells(x, time)
    tv <- .ijk_time_values(time, time_values)
    for (t in sort(unique(tv))) {
      .Call(ijk_r_add_snapshot, object$ptr, t, x[tv == t, , drop = FALSE])
    }
    object$colnames <- colnames(x)
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

potential <- function(model, x, t = 0) {
  x <- .ijk_matrix(x)
  out <- .Call(ijk_r_potential, model$ptr, x, as.numeric(t))
  names(out) <- rownames(x)
  out
}

grad_potential <- function(model, x, t = 0) {
  x <- .ijk_matrix(x)
  .ijk_names(.Call(ijk_r_grad_potential, model$ptr, x, as.numeric(t)), x)
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
  x <- .ijk_cells(x, time)
  tv <- .ijk_time_values(time, time_values)
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
  structure(list(ptr = ptr, options = NULL, colnames = NULL), class = "ijkonet_model")
}

print.ijkonet_model <- function(x, ...) {
  state <- tryCatch(.ijk_state(x), error = function(e) "invalid")
  cat(sprintf("<ijkonet model: %s>\n", state))
  if (state %in% c("trained", "failed", "loaded")) {
    cat(sprintf("  dimension %d, snapshot times %s, theta3 %.4g\n", .Call(ijk_r_dim, x$ptr),
                paste(format(snapshot_times(x)), collapse = " "), .Call(ijk_r_theta3, x$ptr)))
  }
  invisible(x)
}
