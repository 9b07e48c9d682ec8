/* .Call shim between R and the ijkonet C ABI (include/ijkonet.h).
 *
 * Models live behind external pointers with finalizers. Every library failure is turned into an R
 * condition of class "ijkonet_error" by calling the package's .ijk_raise() (the C side frees the
 * library's error object first, so the longjmp out of here leaks nothing). Matrices cross the
 * boundary transposed: R stores column-major, the library takes row-major n x d. */
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <R.h>
#include <R_ext/Rdynload.h>
#include <Rinternals.h>

#include <ijkonet.h>

static SEXP model_tag = NULL;

/* Raise the library's error as an R condition (never returns). */
static void raise_error(ijk_error* err) {
    int code = err ? ijk_error_code(err) : ijk_last_error_code();
    const char* msg = err ? ijk_error_message(err) : ijk_last_error_message();
    SEXP rmsg = PROTECT(Rf_mkString(msg && msg[0] ? msg : "unknown ijkonet error"));
    SEXP rcode = PROTECT(Rf_ScalarInteger(code));
    ijk_error_free(err);
    SEXP ns = PROTECT(R_FindNamespace(Rf_mkString("ijkonet")));
    SEXP call = PROTECT(Rf_lang3(Rf_install(".ijk_raise"), rcode, rmsg));
    Rf_eval(call, ns);
    UNPROTECT(4);
    Rf_error("%s", msg); /* not reached: .ijk_raise always signals */
}


static void model_finalizer(SEXP ptr) {
    ijk_model* model = (ijk_model*)R_ExternalPtrAddr(ptr);
    if (model) {
        ijk_model_free(model);
        R_ClearExternalPtr(ptr);
    }
}

static SEXP wrap_model(ijk_model* model) {
    SEXP ptr = PROTECT(R_MakeExternalPtr(model, model_tag, R_NilValue));
    R_RegisterCFinalizerEx(ptr, model_finalizer, TRUE);
    UNPROTECT(1);
    return ptr;
}

static ijk_model* get_model(SEXP ptr) {
    if (TYPEOF(ptr) != EXTPTRSXP || R_ExternalPtrTag(ptr) != model_tag)
        Rf_error("not an ijkonet model handle");
    ijk_model* model = (ijk_model*)R_ExternalPtrAddr(ptr);
    if (!model) Rf_error("the ijkonet model handle is no longer valid (freed or restored from a saved session)");
    return model;
}

/* A numeric matrix (n x d, column-major) as a row-major R_alloc'd copy. */
static double* row_major(SEXP x, size_t* n, size_t* d) {
    if (!Rf_isReal(x) || !Rf_isMatrix(x)) Rf_error("x must be a numeric (double) matrix");
    *n = (size_t)Rf_nrows(x);
    *d = (size_t)Rf_ncols(x);
    if (*n == 0 || *d == 0) Rf_error("x must have at least one row and one column");
    const double* src = REAL(x);
    double* out = (double*)R_alloc(*n * *d, sizeof(double));
    for (size_t i = 0; i < *n; i++)
        for (size_t j = 0; j < *d; j++) out[i * *d + j] = src[j * *n + i];
    return out;
}

/* Row-major n x d values as an R matrix (column-major). */
static SEXP to_matrix(const double* v, size_t n, size_t d) {
    SEXP m = PROTECT(Rf_allocMatrix(REALSXP, (int)n, (int)d));
    double* dst = REAL(m);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) dst[j * n + i] = v[i * d + j];
    UNPROTECT(1);
    return m;
}

static SEXP r_version(void) { return Rf_mkString(ijk_version()); }

static SEXP r_config_keys(void) {
    size_t k = ijk_config_key_count();
    SEXP out = PROTECT(Rf_allocVector(STRSXP, (R_xlen_t)k));
    for (size_t i = 0; i < k; i++) SET_STRING_ELT(out, (R_xlen_t)i, Rf_mkChar(ijk_config_key(i)));
    UNPROTECT(1);
    return out;
}

/* Create a model from parallel character vectors of option keys and values. */
static SEXP r_model_new(SEXP keys, SEXP values) {
    if (!Rf_isString(keys) || !Rf_isString(values) || XLENGTH(keys) != XLENGTH(values))
        Rf_error("options must be named character values");
    ijk_config* cfg = NULL;
    ijk_error* err = NULL;
    if (ijk_config_new(&cfg, &err) != IJK_OK) raise_error(err);
    for (R_xlen_t i = 0; i < XLENGTH(keys); i++) {
        if (ijk_config_set_str(cfg, CHAR(STRING_ELT(keys, i)), CHAR(STRING_ELT(values, i)), &err) != IJK_OK) {
            ijk_config_free(cfg);
            raise_error(err);
        }
    }
    ijk_model* model = NULL;
    int32_t status = ijk_model_new(cfg, &model, &err);
    ijk_config_free(cfg);
    if (status != IJK_OK) raise_error(err);
    return wrap_model(model);
}

static SEXP r_model_free(SEXP ptr) {
    if (TYPEOF(ptr) == EXTPTRSXP) model_finalizer(ptr);
    return R_NilValue;
}

static SEXP r_add_snapshot(SEXP ptr, SEXP time, SEXP x) {
    ijk_model* model = get_model(ptr);
    size_t n, d;
    double* v = row_major(x, &n, &d);
    ijk_error* err = NULL;
    if (ijk_model_add_snapshot_f64(model, Rf_asReal(time), v, n, d, &err) != IJK_OK) raise_error(err);
    return R_NilValue;
}

/* Progress callback state. `cont` is the continuation token of R_UnwindProtect; `unwound` says an R
 * jump (an error, a restart) left the callback and was stopped at the library boundary, to be resumed
 * with R_ContinueUnwind once ijk_model_train has returned. */
typedef struct {
    SEXP fun;
    SEXP cont;
    const ijk_progress* progress;
    int stop;
    int interrupted;
    int unwound;
    jmp_buf jump;
} progress_ctx;

static void check_interrupt(void* unused) {
    (void)unused;
    R_CheckUserInterrupt();
}

/* The R side of one progress call; may longjmp (allocation failure, an error in the user's callback),
 * which R_UnwindProtect intercepts. */
static SEXP progress_body(void* data) {
    progress_ctx* ctx = (progress_ctx*)data;
    static const char* names[] = {"epoch", "epochs", "energy_loss", "map_loss", "metric", ""};
    const ijk_progress* p = ctx->progress;
    SEXP list = PROTECT(Rf_mkNamed(VECSXP, names));
    SET_VECTOR_ELT(list, 0, Rf_ScalarReal((double)p->epoch));
    SET_VECTOR_ELT(list, 1, Rf_ScalarReal((double)p->epochs));
    SET_VECTOR_ELT(list, 2, Rf_ScalarReal(p->energy_loss));
    SET_VECTOR_ELT(list, 3, Rf_ScalarReal(p->map_loss));
    SET_VECTOR_ELT(list, 4, Rf_ScalarReal(p->metric));
    SEXP ns = PROTECT(R_FindNamespace(PROTECT(Rf_mkString("ijkonet"))));
    SEXP call = PROTECT(Rf_lang3(Rf_install(".ijk_progress_call"), ctx->fun, list));
    SEXP res = Rf_eval(call, ns);
    /* .ijk_progress_call returns TRUE (stop), FALSE (go on) or NA (interrupted). */
    int v = Rf_asLogical(res);
    if (v == NA_LOGICAL) ctx->interrupted = 1;
    ctx->stop = v != 0;
    UNPROTECT(4);
    return R_NilValue;
}

/* Runs after progress_body, also when it jumped: a jump must not continue through the library's
 * frames, so it is parked in `cont` and control returns to on_progress (the only frames between
 * its setjmp and here are R's own, already unwound). */
static void progress_cleanup(void* data, Rboolean jump) {
    progress_ctx* ctx = (progress_ctx*)data;
    if (jump) {
        ctx->unwound = 1;
        longjmp(ctx->jump, 1);
    }
}

/* Runs inside the library's training loop: no R error, interrupt or other jump may cross the
 * library's frames, so every R API call here runs under R_ToplevelExec or R_UnwindProtect and any
 * failure becomes a non-zero return, which cancels training. */
static int32_t on_progress(const ijk_progress* p, void* user_data) {
    progress_ctx* ctx = (progress_ctx*)user_data;
    if (ctx->unwound || ctx->interrupted) return 1;
    if (!R_ToplevelExec(check_interrupt, NULL)) {
        ctx->interrupted = 1;
        return 1;
    }
    if (ctx->fun == R_NilValue) return 0;
    ctx->progress = p;
    ctx->stop = 0;
    if (setjmp(ctx->jump)) return 1; /* from progress_cleanup: an R jump is parked in ctx->cont */
    R_UnwindProtect(progress_body, ctx, progress_cleanup, ctx, ctx->cont);
    return ctx->stop ? 1 : 0;
}

/* Train for `epochs` epochs; `callback` is NULL or an R function(progress) returning TRUE to stop.
 * `env` is unused (kept for the registered arity). */
static SEXP r_train(SEXP ptr, SEXP epochs, SEXP callback, SEXP env) {
    (void)env;
    ijk_model* model = get_model(ptr);
    double e = Rf_asReal(epochs);
    if (!R_FINITE(e) || e < 0) Rf_error("epochs must be a non-negative number");
    if (callback != R_NilValue && !Rf_isFunction(callback)) Rf_error("callback must be a function or NULL");
    progress_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.fun = callback;
    /* Allocated before training starts: nothing in the callback path allocates outside protection. */
    ctx.cont = PROTECT(R_MakeUnwindCont());
    ijk_error* err = NULL;
    int32_t status = ijk_model_train(model, (uint64_t)e, on_progress, &ctx, &err);
    if (ctx.unwound) {
        /* The user's callback raised an error (or another jump left it): training was cancelled;
         * now, with no library frame on the stack, let it continue with its own condition. */
        ijk_error_free(err);
        R_ContinueUnwind(ctx.cont);
    }
    UNPROTECT(1);
    if (status != IJK_OK) raise_error(err);
    return R_NilValue;
}

static SEXP r_state(SEXP ptr) {
    int32_t s = 0;
    ijk_error* err = NULL;
    if (ijk_model_state(get_model(ptr), &s, &err) != IJK_OK) raise_error(err);
    return Rf_ScalarInteger(s);
}

static SEXP r_times(SEXP ptr) {
    ijk_model* model = get_model(ptr);
    size_t k = 0;
    ijk_error* err = NULL;
    if (ijk_model_num_times(model, &k, &err) != IJK_OK) raise_error(err);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t)k));
    if (ijk_model_times(model, REAL(out), k, &err) != IJK_OK) raise_error(err);
    UNPROTECT(1);
    return out;
}

static SEXP r_theta3(SEXP ptr) {
    double v = 0;
    ijk_error* err = NULL;
    if (ijk_model_theta3(get_model(ptr), &v, &err) != IJK_OK) raise_error(err);
    return Rf_ScalarReal(v);
}

static SEXP r_dim(SEXP ptr) {
    size_t d = 0;
    ijk_error* err = NULL;
    if (ijk_model_dim(get_model(ptr), &d, &err) != IJK_OK) raise_error(err);
    return Rf_ScalarInteger((int)d);
}

static SEXP r_predict_step(SEXP ptr, SEXP k, SEXP x) {
    ijk_model* model = get_model(ptr);
    size_t n, d;
    double* v = row_major(x, &n, &d);
    double* out = (double*)R_alloc(n * d, sizeof(double));
    int kk = Rf_asInteger(k);
    if (kk == NA_INTEGER || kk < 0) Rf_error("step must be a positive integer");
    ijk_error* err = NULL;
    if (ijk_model_predict_step(model, (size_t)kk, v, n, d, out, n * d, &err) != IJK_OK) raise_error(err);
    return to_matrix(out, n, d);
}

static SEXP r_predict_at(SEXP ptr, SEXP x, SEXP t_from, SEXP t_to) {
    ijk_model* model = get_model(ptr);
    size_t n, d;
    double* v = row_major(x, &n, &d);
    double* out = (double*)R_alloc(n * d, sizeof(double));
    ijk_error* err = NULL;
    if (ijk_model_predict_at(model, v, n, d, Rf_asReal(t_from), Rf_asReal(t_to), out, n * d, &err) != IJK_OK)
        raise_error(err);
    return to_matrix(out, n, d);
}

/* Simulate; returns an n x d x (n_steps + 1) array. */
static SEXP r_simulate(SEXP ptr, SEXP x0, SEXP t0, SEXP dt, SEXP n_steps, SEXP seed) {
    ijk_model* model = get_model(ptr);
    size_t n, d;
    double* v = row_major(x0, &n, &d);
    double steps_d = Rf_asReal(n_steps), seed_d = Rf_asReal(seed);
    if (!R_FINITE(steps_d) || steps_d < 0) Rf_error("n_steps must be a non-negative number");
    if (!R_FINITE(seed_d) || seed_d < 0) Rf_error("seed must be a non-negative number");
    size_t steps = (size_t)steps_d, len = 0;
    ijk_error* err = NULL;
    if (ijk_simulate_len(n, d, steps, &len, &err) != IJK_OK) raise_error(err);
    double* out = (double*)R_alloc(len, sizeof(double));
    if (ijk_model_simulate(model, v, n, d, Rf_asReal(t0), Rf_asReal(dt), steps, (uint64_t)seed_d, out, len, &err) !=
        IJK_OK)
        raise_error(err);
    SEXP dims = PROTECT(Rf_allocVector(INTSXP, 3));
    INTEGER(dims)[0] = (int)n;
    INTEGER(dims)[1] = (int)d;
    INTEGER(dims)[2] = (int)(steps + 1);
    SEXP arr = PROTECT(Rf_allocArray(REALSXP, dims));
    double* dst = REAL(arr);
    for (size_t s = 0; s <= steps; s++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) dst[s * n * d + j * n + i] = out[s * n * d + i * d + j];
    UNPROTECT(2);
    return arr;
}

/* The time argument of the potential queries: one value for every row (NULL returned), or one per row
 * (a pointer to the n times). */
static const double* row_times(SEXP t, size_t n, double* scalar) {
    if (!Rf_isReal(t)) Rf_error("t must be numeric");
    if (XLENGTH(t) == 1) {
        *scalar = REAL(t)[0];
        return NULL;
    }
    if ((size_t)XLENGTH(t) != n)
        Rf_error("t must be one time or one time per row of x (%d rows, %d times)", (int)n, (int)XLENGTH(t));
    return REAL(t);
}

static SEXP r_potential(SEXP ptr, SEXP x, SEXP t) {
    ijk_model* model = get_model(ptr);
    size_t n, d;
    double* v = row_major(x, &n, &d);
    double t0 = 0;
    const double* ts = row_times(t, n, &t0);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t)n));
    ijk_error* err = NULL;
    int32_t status = ts ? ijk_model_potential_rows(model, v, n, d, ts, REAL(out), n, &err)
                        : ijk_model_potential(model, v, n, d, t0, REAL(out), n, &err);
    if (status != IJK_OK) raise_error(err);
    UNPROTECT(1);
    return out;
}

static SEXP r_grad_potential(SEXP ptr, SEXP x, SEXP t) {
    ijk_model* model = get_model(ptr);
    size_t n, d;
    double* v = row_major(x, &n, &d);
    double t0 = 0;
    const double* ts = row_times(t, n, &t0);
    double* out = (double*)R_alloc(n * d, sizeof(double));
    ijk_error* err = NULL;
    int32_t status = ts ? ijk_model_grad_potential_rows(model, v, n, d, ts, out, n * d, &err)
                        : ijk_model_grad_potential(model, v, n, d, t0, out, n * d, &err);
    if (status != IJK_OK) raise_error(err);
    return to_matrix(out, n, d);
}

static SEXP r_interaction_field(SEXP ptr, SEXP x, SEXP population) {
    ijk_model* model = get_model(ptr);
    size_t n, m, d, d_pop;
    double* v = row_major(x, &n, &d);
    double* pop = row_major(population, &m, &d_pop);
    if (d != d_pop) Rf_error("x and population have different numbers of columns (%d and %d)", (int)d, (int)d_pop);
    double* out = (double*)R_alloc(n * d, sizeof(double));
    ijk_error* err = NULL;
    if (ijk_model_interaction_field(model, v, n, pop, m, d, out, n * d, &err) != IJK_OK) raise_error(err);
    return to_matrix(out, n, d);
}

/* Rollout from snapshot `from` (0-based) for `steps` steps: an n x d x steps array. */
static SEXP r_rollout(SEXP ptr, SEXP from, SEXP steps, SEXP x) {
    ijk_model* model = get_model(ptr);
    int f = Rf_asInteger(from), s = Rf_asInteger(steps);
    if (f == NA_INTEGER || f < 0) Rf_error("from_step must be a positive integer");
    if (s == NA_INTEGER || s < 1) Rf_error("steps must be a positive integer");
    size_t n, d, len = 0;
    double* v = row_major(x, &n, &d);
    ijk_error* err = NULL;
    if (ijk_rollout_len(n, d, (size_t)s, &len, &err) != IJK_OK) raise_error(err);
    double* out = (double*)R_alloc(len, sizeof(double));
    if (ijk_model_rollout(model, (size_t)f, (size_t)s, v, n, d, out, len, &err) != IJK_OK) raise_error(err);
    SEXP dims = PROTECT(Rf_allocVector(INTSXP, 3));
    INTEGER(dims)[0] = (int)n;
    INTEGER(dims)[1] = (int)d;
    INTEGER(dims)[2] = s;
    SEXP arr = PROTECT(Rf_allocArray(REALSXP, dims));
    double* dst = REAL(arr);
    for (size_t k = 0; k < (size_t)s; k++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) dst[k * n * d + j * n + i] = out[k * n * d + i * d + j];
    UNPROTECT(2);
    return arr;
}

static SEXP r_clone(SEXP ptr) {
    ijk_model* copy = NULL;
    ijk_error* err = NULL;
    if (ijk_model_clone(get_model(ptr), &copy, &err) != IJK_OK) raise_error(err);
    return wrap_model(copy);
}

/* Epochs done, as a double (uint64 does not fit R's integers). */
static SEXP r_epochs_done(SEXP ptr) {
    uint64_t e = 0;
    ijk_error* err = NULL;
    if (ijk_model_epochs_done(get_model(ptr), &e, &err) != IJK_OK) raise_error(err);
    return Rf_ScalarReal((double)e);
}

/* One ijk_model_info key as a string: a size query, then the copy. */
static SEXP r_info(SEXP ptr, SEXP key) {
    ijk_model* model = get_model(ptr);
    if (!Rf_isString(key) || XLENGTH(key) != 1 || STRING_ELT(key, 0) == NA_STRING)
        Rf_error("key must be a single string");
    const char* k = CHAR(STRING_ELT(key, 0));
    size_t needed = 0;
    ijk_error* err = NULL;
    if (ijk_model_info(model, k, NULL, 0, &needed, &err) != IJK_OK) raise_error(err);
    char* buf = R_alloc(needed, 1);
    if (ijk_model_info(model, k, buf, needed, NULL, &err) != IJK_OK) raise_error(err);
    return Rf_mkString(buf);
}

/* Step index k (0-based) from R, refusing NA and negatives. */
static size_t step_index(SEXP k) {
    int kk = Rf_asInteger(k);
    if (kk == NA_INTEGER || kk < 0) Rf_error("step must be a positive integer");
    return (size_t)kk;
}

static SEXP r_baseline_predict(SEXP ptr, SEXP baseline, SEXP k, SEXP x) {
    ijk_model* model = get_model(ptr);
    int b = Rf_asInteger(baseline);
    if (b == NA_INTEGER) Rf_error("baseline must be an integer code");
    size_t kk = step_index(k);
    size_t n, d;
    double* v = row_major(x, &n, &d);
    double* out = (double*)R_alloc(n * d, sizeof(double));
    ijk_error* err = NULL;
    if (ijk_model_baseline_predict(model, (int32_t)b, kk, v, n, d, out, n * d, &err) != IJK_OK) raise_error(err);
    return to_matrix(out, n, d);
}

/* W1 of the model and of the three naive predictions on step k: a numeric vector of length 4. */
static SEXP r_evaluate_step(SEXP ptr, SEXP k, SEXP x_k, SEXP x_next) {
    ijk_model* model = get_model(ptr);
    size_t kk = step_index(k);
    size_t n, m, d, d_next;
    double* a = row_major(x_k, &n, &d);
    double* b = row_major(x_next, &m, &d_next);
    if (d != d_next) Rf_error("the two snapshots have different numbers of columns (%d and %d)", (int)d, (int)d_next);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, IJK_EVALUATE_STEP_LEN));
    ijk_error* err = NULL;
    if (ijk_model_evaluate_step(model, kk, a, n, b, m, d, REAL(out), IJK_EVALUATE_STEP_LEN, &err) != IJK_OK)
        raise_error(err);
    UNPROTECT(1);
    return out;
}

static SEXP r_w1(SEXP x, SEXP y) {
    size_t n, m, d, d_y;
    double* a = row_major(x, &n, &d);
    double* b = row_major(y, &m, &d_y);
    if (d != d_y) Rf_error("x and y have different numbers of columns (%d and %d)", (int)d, (int)d_y);
    double out = 0;
    ijk_error* err = NULL;
    if (ijk_metric_w1(a, n, b, m, d, &out, &err) != IJK_OK) raise_error(err);
    return Rf_ScalarReal(out);
}

static SEXP r_save(SEXP ptr, SEXP path) {
    ijk_model* model = get_model(ptr);
    if (!Rf_isString(path) || XLENGTH(path) != 1) Rf_error("path must be a single string");
    ijk_error* err = NULL;
    if (ijk_model_save(model, R_ExpandFileName(CHAR(STRING_ELT(path, 0))), &err) != IJK_OK) raise_error(err);
    return R_NilValue;
}

/* Load a model; `device` is NULL (the saved device, CPU when that CUDA device is missing) or a string. */
static SEXP r_load(SEXP path, SEXP device) {
    if (!Rf_isString(path) || XLENGTH(path) != 1) Rf_error("path must be a single string");
    if (device != R_NilValue && (!Rf_isString(device) || XLENGTH(device) != 1 || STRING_ELT(device, 0) == NA_STRING))
        Rf_error("device must be NULL or a single string");
    const char* dev = device == R_NilValue ? NULL : CHAR(STRING_ELT(device, 0));
    ijk_model* model = NULL;
    ijk_error* err = NULL;
    if (ijk_model_load_on(R_ExpandFileName(CHAR(STRING_ELT(path, 0))), dev, &model, &err) != IJK_OK)
        raise_error(err);
    return wrap_model(model);
}

static const R_CallMethodDef call_methods[] = {
    {"ijk_r_version", (DL_FUNC)&r_version, 0},
    {"ijk_r_config_keys", (DL_FUNC)&r_config_keys, 0},
    {"ijk_r_model_new", (DL_FUNC)&r_model_new, 2},
    {"ijk_r_model_free", (DL_FUNC)&r_model_free, 1},
    {"ijk_r_add_snapshot", (DL_FUNC)&r_add_snapshot, 3},
    {"ijk_r_train", (DL_FUNC)&r_train, 4},
    {"ijk_r_state", (DL_FUNC)&r_state, 1},
    {"ijk_r_times", (DL_FUNC)&r_times, 1},
    {"ijk_r_theta3", (DL_FUNC)&r_theta3, 1},
    {"ijk_r_dim", (DL_FUNC)&r_dim, 1},
    {"ijk_r_predict_step", (DL_FUNC)&r_predict_step, 3},
    {"ijk_r_predict_at", (DL_FUNC)&r_predict_at, 4},
    {"ijk_r_simulate", (DL_FUNC)&r_simulate, 6},
    {"ijk_r_potential", (DL_FUNC)&r_potential, 3},
    {"ijk_r_grad_potential", (DL_FUNC)&r_grad_potential, 3},
    {"ijk_r_baseline_predict", (DL_FUNC)&r_baseline_predict, 4},
    {"ijk_r_evaluate_step", (DL_FUNC)&r_evaluate_step, 4},
    {"ijk_r_w1", (DL_FUNC)&r_w1, 2},
    {"ijk_r_save", (DL_FUNC)&r_save, 2},
    {"ijk_r_load", (DL_FUNC)&r_load, 2},
    {"ijk_r_interaction_field", (DL_FUNC)&r_interaction_field, 3},
    {"ijk_r_rollout", (DL_FUNC)&r_rollout, 4},
    {"ijk_r_clone", (DL_FUNC)&r_clone, 1},
    {"ijk_r_epochs_done", (DL_FUNC)&r_epochs_done, 1},
    {"ijk_r_info", (DL_FUNC)&r_info, 2},
    {NULL, NULL, 0}};

void R_init_ijkonet(DllInfo* dll) {
    model_tag = Rf_install("ijkonet_model");
    R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
    R_useDynamicSymbols(dll, FALSE);
    R_forceSymbols(dll, TRUE);
}
