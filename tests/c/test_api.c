/* Every function of the C ABI and its error paths. Training is tiny (16 points, 1-3 epochs). */
#include "test_common.h"

#include <stdint.h>

static void test_version_and_errors(void) {
    CHECK(strcmp(ijk_version(), IJKONET_VERSION_STRING) == 0);
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", IJKONET_VERSION_MAJOR, IJKONET_VERSION_MINOR, IJKONET_VERSION_PATCH);
    CHECK(strcmp(ijk_version(), expected) == 0);
    CHECK(ijk_abi_version() == IJKONET_ABI_VERSION);

    /* Error objects: NULL-safe accessors, code and message of a real failure, cleared on success. */
    CHECK(ijk_error_code(NULL) == IJK_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(ijk_error_message(NULL), "") == 0);
    ijk_error_free(NULL);
    ijk_error* err = NULL;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "thread count", ijk_set_num_threads(0, &err));
    CHECK(err != NULL);
    CHECK(ijk_error_code(err) == IJK_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(ijk_error_message(err), ijk_last_error_message()) == 0);
    ijk_error_free(err);
    err = (ijk_error*)&err; /* a stale value: success must reset it to NULL */
    OK(ijk_set_num_threads(1, &err));
    CHECK(err == NULL);
    CHECK(ijk_last_error_code() == IJK_OK && ijk_last_error_length() == 0);
    CHECK(strcmp(ijk_last_error_message(), "") == 0);
    CHECK(ijk_get_num_threads() == 1);
}

static void test_config(void) {
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_config_new(NULL, NULL));
    ijk_config* cfg = NULL;
    OK(ijk_config_new(&cfg, NULL));
    CHECK(cfg != NULL);
    ijk_config_free(NULL);

    /* Keys: method first, every key readable through a size query then a read. */
    size_t count = ijk_config_key_count();
    CHECK(count >= 28);
    CHECK(strcmp(ijk_config_key(0), "method") == 0);
    CHECK(ijk_config_key(count) == NULL);
    for (size_t i = 0; i < count; i++) {
        size_t needed = 0;
        OK(ijk_config_get(cfg, ijk_config_key(i), NULL, 0, &needed, NULL));
        CHECK(needed >= 2);
        char* buf = malloc(needed);
        OK(ijk_config_get(cfg, ijk_config_key(i), buf, needed, NULL, NULL));
        CHECK(strlen(buf) + 1 == needed);
        /* Setting a key to its own value is accepted (the string forms round-trip). */
        OK(ijk_config_set_str(cfg, ijk_config_key(i), buf, NULL));
        free(buf);
    }
    char buf[64];
    size_t needed = 0;
    OK(ijk_config_get(cfg, "method", buf, sizeof buf, &needed, NULL));
    CHECK(strcmp(buf, "ijkonet") == 0 && needed == 8);

    /* Typed setters, read back. */
    OK(ijk_config_set_int(cfg, "epochs", 3, NULL));
    OK(ijk_config_get(cfg, "epochs", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "3") == 0);
    OK(ijk_config_set_double(cfg, "energy_lr", 0.25, NULL));
    OK(ijk_config_get(cfg, "energy_lr", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "0.25") == 0);
    OK(ijk_config_set_double(cfg, "batch_size", 12.0, NULL));
    OK(ijk_config_get(cfg, "batch_size", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "12") == 0);
    OK(ijk_config_set_bool(cfg, "map_shared", false, NULL));
    OK(ijk_config_get(cfg, "map_shared", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "false") == 0);
    OK(ijk_config_set_int(cfg, "map_residual", 0, NULL));
    OK(ijk_config_get(cfg, "map_residual", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "false") == 0);
    OK(ijk_config_set_str(cfg, "method", "JKOnet*", NULL));
    OK(ijk_config_get(cfg, "method", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "jkonet_star") == 0);
    OK(ijk_config_set_str(cfg, "method", "iJKOnet", NULL));

    /* Errors name the key and the value; the configuration is unchanged. */
    FAILS(IJK_ERR_INVALID_ARGUMENT, "learning_rate", ijk_config_set_str(cfg, "learning_rate", "1", NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "learning_rate", ijk_config_get(cfg, "learning_rate", buf, sizeof buf, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "jkonet2", ijk_config_set_str(cfg, "method", "jkonet2", NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "epochs", ijk_config_set_int(cfg, "epochs", -1, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "epochs", ijk_config_set_bool(cfg, "epochs", true, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "energy_lr", ijk_config_set_double(cfg, "energy_lr", NAN, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "energy_lr", ijk_config_set_double(cfg, "energy_lr", INFINITY, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "variant", ijk_config_set_str(cfg, "variant", "V+X", NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "batch_size", ijk_config_set_double(cfg, "batch_size", 2.5, NULL));
    OK(ijk_config_get(cfg, "epochs", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "3") == 0);

    /* NULL arguments. */
    FAILS(IJK_ERR_INVALID_ARGUMENT, "config", ijk_config_set_str(NULL, "epochs", "1", NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "key", ijk_config_set_str(cfg, NULL, "1", NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "value", ijk_config_set_str(cfg, "epochs", NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "config", ijk_config_set_int(NULL, "epochs", 1, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "config", ijk_config_set_double(NULL, "tau", 1.0, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "config", ijk_config_set_bool(NULL, "map_shared", true, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "key", ijk_config_get(cfg, NULL, buf, sizeof buf, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "config", ijk_config_get(NULL, "tau", buf, sizeof buf, NULL, NULL));

    /* A short buffer: error, buffer untouched, `needed` still reported. */
    memset(buf, 'x', sizeof buf);
    needed = 0;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_config_get(cfg, "method", buf, 3, &needed, NULL));
    CHECK(needed == 8 && buf[0] == 'x' && buf[3] == 'x');
    FAILS(IJK_ERR_INVALID_ARGUMENT, "NULL", ijk_config_get(cfg, "method", NULL, 8, NULL, NULL));
    ijk_config_free(cfg);
}

static int progress_calls = 0;
static int reentrant_status = -1;

static int32_t count_progress(const ijk_progress* p, void* user_data) {
    progress_calls++;
    CHECK(p->struct_size == sizeof(ijk_progress)); /* ABI 2: the library fills the whole struct */
    CHECK(p->epochs == 2);
    CHECK(isfinite(p->energy_loss) && isfinite(p->map_loss));
    CHECK(isnan(p->metric));
    /* Calling back into the model being trained must fail cleanly, not deadlock. */
    size_t d = 0;
    reentrant_status = ijk_model_dim((const ijk_model*)user_data, &d, NULL);
    return 0;
}

static int32_t cancel_at_once(const ijk_progress* p, void* user_data) {
    (void)p;
    (*(int*)user_data)++;
    return 1;
}

static void test_model_lifecycle(void) {
    ijk_config* cfg = ijk_test_tiny_config();
    CHECK(cfg != NULL);
    ijk_model* model = NULL;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "config", ijk_model_new(NULL, &model, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_new(cfg, NULL, NULL));
    OK(ijk_config_set_str(cfg, "device", "cuda:99", NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "cuda:99", ijk_model_new(cfg, &model, NULL));
    CHECK(model == NULL);
    OK(ijk_config_set_str(cfg, "device", "cpu", NULL));
    ijk_model_free(NULL);

    OK(ijk_model_new(cfg, &model, NULL));
    ijk_config_free(cfg); /* the model keeps its own copy */
    int32_t state = -1;
    OK(ijk_model_state(model, &state, NULL));
    CHECK(state == IJK_MODEL_COLLECTING);
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_state(model, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "model", ijk_model_state(NULL, &state, NULL));

    /* Queries before training. */
    double x[TEST_N * TEST_D], y[TEST_N * TEST_D];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 11);
    size_t d = 0;
    FAILS(IJK_ERR_STATE, "not trained", ijk_model_dim(model, &d, NULL));
    FAILS(IJK_ERR_STATE, "not trained", ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, y, TEST_N * TEST_D, NULL));
    FAILS(IJK_ERR_STATE, "not trained", ijk_model_save(model, "never.safetensors", NULL));

    /* Snapshot errors. */
    float xf[TEST_N * TEST_D];
    for (size_t i = 0; i < TEST_N * TEST_D; i++) xf[i] = (float)x[i];
    FAILS(IJK_ERR_INVALID_ARGUMENT, "model", ijk_model_add_snapshot_f64(NULL, 0.0, x, TEST_N, TEST_D, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "NULL", ijk_model_add_snapshot_f64(model, 0.0, NULL, TEST_N, TEST_D, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "n = 0", ijk_model_add_snapshot_f64(model, 0.0, x, 0, TEST_D, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "d = 0", ijk_model_add_snapshot_f32(model, 0.0, xf, TEST_N, 0, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "time", ijk_model_add_snapshot_f64(model, NAN, x, TEST_N, TEST_D, NULL));
    double bad = x[5];
    x[5] = NAN;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "row 2, column 1", ijk_model_add_snapshot_f64(model, 0.0, x, TEST_N, TEST_D, NULL));
    x[5] = bad;
    xf[3] = INFINITY;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "not finite", ijk_model_add_snapshot_f32(model, 0.0, xf, TEST_N, TEST_D, NULL));
    xf[3] = (float)x[3];

    /* One snapshot is not enough: training refuses and the handle keeps collecting. */
    OK(ijk_model_add_snapshot_f64(model, 0.0, x, TEST_N, TEST_D, NULL));
    FAILS(IJK_ERR_INVALID_DATA, "already", ijk_model_add_snapshot_f64(model, 0.0, x, TEST_N, TEST_D, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "d = 1", ijk_model_add_snapshot_f64(model, 1.0, x, TEST_N * 2, 1, NULL));
    FAILS(IJK_ERR_INVALID_DATA, "at least 2 snapshots", ijk_model_train_step(model, NULL, NULL, NULL));
    OK(ijk_model_state(model, &state, NULL));
    CHECK(state == IJK_MODEL_COLLECTING);

    /* Out of time order and in float: sorted when training starts. */
    double c2[TEST_N * TEST_D];
    ijk_test_cloud(c2, TEST_N, TEST_D, 0.0, 0.7, 13);
    OK(ijk_model_add_snapshot_f64(model, 1.0, c2, TEST_N, TEST_D, NULL));
    for (size_t i = 0; i < TEST_N * TEST_D; i++) xf[i] = (float)(x[i] * 0.5);
    OK(ijk_model_add_snapshot_f32(model, 0.5, xf, TEST_N, TEST_D, NULL));

    double el = NAN, ml = NAN;
    OK(ijk_model_train_step(model, &el, &ml, NULL));
    CHECK(isfinite(el) && isfinite(ml));
    OK(ijk_model_train_step(model, NULL, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "model", ijk_model_train_step(NULL, NULL, NULL, NULL));
    OK(ijk_model_state(model, &state, NULL));
    CHECK(state == IJK_MODEL_TRAINED);
    FAILS(IJK_ERR_STATE, "before training", ijk_model_add_snapshot_f64(model, 2.0, x, TEST_N, TEST_D, NULL));

    /* Full epochs with a callback; re-entrance from the callback fails with a state error. */
    OK(ijk_model_train(model, 2, count_progress, model, NULL));
    CHECK(progress_calls == 2);
    CHECK(reentrant_status == IJK_ERR_STATE);
    OK(ijk_model_train(model, 0, NULL, NULL, NULL)); /* 0 = the configured epochs (1) */
    int cancels = 0;
    FAILS(IJK_ERR_CANCELLED, "cancelled", ijk_model_train(model, 3, cancel_at_once, &cancels, NULL));
    CHECK(cancels == 1);
    OK(ijk_model_train(model, 1, NULL, NULL, NULL)); /* cancelled training can resume */
    FAILS(IJK_ERR_INVALID_ARGUMENT, "model", ijk_model_train(NULL, 1, NULL, NULL, NULL));

    /* Metadata. */
    OK(ijk_model_dim(model, &d, NULL));
    CHECK(d == TEST_D);
    size_t k = 0;
    OK(ijk_model_num_times(model, &k, NULL));
    CHECK(k == 3);
    double times[3] = {-1, -1, -1};
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_times(model, times, 2, NULL));
    CHECK(times[0] == -1);
    OK(ijk_model_times(model, times, 3, NULL));
    CHECK(times[0] == 0.0 && times[1] == 0.5 && times[2] == 1.0);
    double theta = -1;
    OK(ijk_model_theta3(model, &theta, NULL));
    CHECK(theta == 0.0); /* the default variant V has no internal energy */
    ijk_config* copy = NULL;
    OK(ijk_model_config(model, &copy, NULL));
    char buf[32];
    OK(ijk_config_get(copy, "energy_hidden", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, "8") == 0);
    ijk_config_free(copy);
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_config(model, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_dim(model, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_num_times(model, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_theta3(model, NULL, NULL));

    ijk_model_free(model);
}

/* A trained tiny model for the query tests. */
static ijk_model* trained_model(void) {
    ijk_config* cfg = ijk_test_tiny_config();
    ijk_model* model = ijk_test_model_with_data(cfg);
    ijk_config_free(cfg);
    CHECK(model != NULL);
    OK(ijk_model_train(model, 2, NULL, NULL, NULL));
    return model;
}

#define NV (TEST_N * TEST_D)

static void test_queries(ijk_model* model) {
    double x[NV], y[NV], z[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 11);
    for (size_t i = 0; i < NV; i++) y[i] = z[i] = -7.0;

    /* predict_step: errors leave the output untouched. */
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, y, NV - 1, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "d = 3", ijk_model_predict_step(model, 0, x, TEST_N / 2, 3, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, NULL, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "NULL", ijk_model_predict_step(model, 0, NULL, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "n = 0", ijk_model_predict_step(model, 0, x, 0, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "step 2", ijk_model_predict_step(model, 2, x, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "model", ijk_model_predict_step(NULL, 0, x, TEST_N, TEST_D, y, NV, NULL));
    double saved = x[0];
    x[0] = NAN;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "not finite", ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, y, NV, NULL));
    x[0] = saved;
    for (size_t i = 0; i < NV; i++) CHECK(y[i] == -7.0);
    OK(ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, y, NV, NULL));
    for (size_t i = 0; i < NV; i++) CHECK(isfinite(y[i]));

    /* rollout of 2 steps = two chained one-step predictions; predict_at between observed times too. */
    size_t len = 0;
    OK(ijk_rollout_len(TEST_N, TEST_D, 2, &len, NULL));
    CHECK(len == 2 * NV);
    FAILS(IJK_ERR_INVALID_ARGUMENT, "overflow", ijk_rollout_len(SIZE_MAX, 2, 2, &len, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_rollout_len(1, 1, 1, NULL, NULL));
    double roll[2 * NV];
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_rollout(model, 0, 2, x, TEST_N, TEST_D, roll, 2 * NV - 1, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "2 step", ijk_model_rollout(model, 1, 2, x, TEST_N, TEST_D, roll, 2 * NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "0 step", ijk_model_rollout(model, 0, 0, x, TEST_N, TEST_D, roll, 2 * NV, NULL));
    OK(ijk_model_rollout(model, 0, 2, x, TEST_N, TEST_D, roll, 2 * NV, NULL));
    OK(ijk_model_predict_step(model, 1, y, TEST_N, TEST_D, z, NV, NULL));
    for (size_t i = 0; i < NV; i++) CHECK(roll[i] == y[i] && roll[NV + i] == z[i]);
    double at[NV];
    OK(ijk_model_predict_at(model, x, TEST_N, TEST_D, 0.0, 1.0, at, NV, NULL));
    for (size_t i = 0; i < NV; i++) CHECK(at[i] == z[i]);
    FAILS(IJK_ERR_INVALID_ARGUMENT, "t_to > t_from", ijk_model_predict_at(model, x, TEST_N, TEST_D, 1.0, 0.5, at, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_predict_at(model, x, TEST_N, TEST_D, 0.0, 1.0, at, 1, NULL));

    /* simulate: (n_steps + 1) clouds starting at x0; without noise it is Euler on -grad V. */
    OK(ijk_simulate_len(TEST_N, TEST_D, 3, &len, NULL));
    CHECK(len == 4 * NV);
    FAILS(IJK_ERR_INVALID_ARGUMENT, "overflow", ijk_simulate_len(SIZE_MAX, 1, 1, &len, NULL));
    double traj[4 * NV];
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_simulate(model, x, TEST_N, TEST_D, 0.0, 0.01, 3, 1, traj, 3 * NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "dt", ijk_model_simulate(model, x, TEST_N, TEST_D, 0.0, -0.1, 3, 1, traj, 4 * NV, NULL));
    OK(ijk_model_simulate(model, x, TEST_N, TEST_D, 0.0, 0.01, 3, 1, traj, 4 * NV, NULL));
    double grad[NV];
    OK(ijk_model_grad_potential(model, x, TEST_N, TEST_D, 0.0, grad, NV, NULL));
    for (size_t i = 0; i < NV; i++) {
        CHECK(traj[i] == x[i]);
        CHECK(fabs(traj[NV + i] - (x[i] - 0.01 * grad[i])) < 1e-9);
    }

    /* V and grad V agree: central differences of V match grad V. */
    double v[TEST_N];
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_potential(model, x, TEST_N, TEST_D, 0.0, v, TEST_N - 1, NULL));
    OK(ijk_model_potential(model, x, TEST_N, TEST_D, 0.0, v, TEST_N, NULL));
    const double h = 1e-2;
    double worst = 0.0, scale = 1e-3;
    for (size_t i = 0; i < TEST_N; i++) {
        for (size_t j = 0; j < TEST_D; j++) {
            double p[TEST_D], q[TEST_D], vp, vq;
            for (size_t c = 0; c < TEST_D; c++) p[c] = q[c] = x[i * TEST_D + c];
            p[j] += h;
            q[j] -= h;
            OK(ijk_model_potential(model, p, 1, TEST_D, 0.0, &vp, 1, NULL));
            OK(ijk_model_potential(model, q, 1, TEST_D, 0.0, &vq, 1, NULL));
            double fd = (vp - vq) / (2 * h);
            worst = fmax(worst, fabs(fd - grad[i * TEST_D + j]));
            scale = fmax(scale, fabs(grad[i * TEST_D + j]));
        }
    }
    CHECK(worst < 1e-2 * scale + 1e-4);
    FAILS(IJK_ERR_INVALID_ARGUMENT, "d = 1", ijk_model_grad_potential(model, x, NV, 1, 0.0, grad, NV, NULL));

    /* The default variant has no interaction term. */
    FAILS(IJK_ERR_STATE, "interaction", ijk_model_interaction_field(model, x, TEST_N, x, TEST_N, TEST_D, grad, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "population", ijk_model_interaction_field(model, x, TEST_N, NULL, TEST_N, TEST_D, grad, NV, NULL));
}

static void test_interaction(void) {
    ijk_config* cfg = ijk_test_tiny_config();
    OK(ijk_config_set_str(cfg, "variant", "V+W", NULL));
    ijk_model* model = ijk_test_model_with_data(cfg);
    ijk_config_free(cfg);
    OK(ijk_model_train_step(model, NULL, NULL, NULL));
    double x[NV], f[NV], g[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 5);
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_interaction_field(model, x, TEST_N, x, TEST_N, TEST_D, f, NV - 1, NULL));
    OK(ijk_model_interaction_field(model, x, TEST_N, x, TEST_N, TEST_D, f, NV, NULL));
    /* Mean field over a population of one point y: (grad W)(x - y); with y = x it is grad W(0), the
       same for every x, and over two copies of a population it is unchanged. */
    double twice[2 * NV];
    memcpy(twice, x, sizeof x);
    memcpy(twice + NV, x, sizeof x);
    OK(ijk_model_interaction_field(model, x, TEST_N, twice, 2 * TEST_N, TEST_D, g, NV, NULL));
    for (size_t i = 0; i < NV; i++) CHECK(fabs(f[i] - g[i]) < 1e-6 * (1 + fabs(f[i])));
    ijk_model_free(model);
}

/* The naive predictions and the held-out evaluation of one step against them. */
static void test_baselines(ijk_model* model) {
    /* The training snapshots of ijk_test_model_with_data (k = 0, 1: scales 2 and 1). */
    double c0[NV], c1[NV];
    ijk_test_cloud(c0, TEST_N, TEST_D, 0.0, 2.0, 11);
    ijk_test_cloud(c1, TEST_N, TEST_D, 0.0, 1.0, 12);
    double m0[TEST_D] = {0}, m1[TEST_D] = {0};
    for (size_t i = 0; i < TEST_N; i++) {
        for (size_t j = 0; j < TEST_D; j++) {
            m0[j] += c0[i * TEST_D + j] / TEST_N;
            m1[j] += c1[i * TEST_D + j] / TEST_N;
        }
    }
    /* Held-out clouds of snapshots 0 and 1 (other seeds, a different size for x_next). */
    enum { NN = TEST_N + 5 };
    double x[NV], xn[NN * TEST_D], y[NV], p[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 41);
    ijk_test_cloud(xn, NN, TEST_D, 0.0, 1.0, 42);

    /* No motion: the input itself, exactly. */
    for (size_t i = 0; i < NV; i++) y[i] = -7.0;
    OK(ijk_model_baseline_predict(model, IJK_BASELINE_NO_MOTION, 0, x, TEST_N, TEST_D, y, NV, NULL));
    for (size_t i = 0; i < NV; i++) CHECK(y[i] == x[i]);

    /* Mean shift: every point moves by the same vector, the difference of the training means. */
    OK(ijk_model_baseline_predict(model, IJK_BASELINE_MEAN_SHIFT, 0, x, TEST_N, TEST_D, y, NV, NULL));
    for (size_t i = 0; i < TEST_N; i++) {
        for (size_t j = 0; j < TEST_D; j++) {
            CHECK(fabs((y[i * TEST_D + j] - x[i * TEST_D + j]) - (y[j] - x[j])) < 1e-12);
            CHECK(fabs((y[i * TEST_D + j] - x[i * TEST_D + j]) - (m1[j] - m0[j])) < 1e-12);
        }
    }

    /* Affine OT: it maps training snapshot 0's mean onto snapshot 1's and contracts its spread. */
    OK(ijk_model_baseline_predict(model, IJK_BASELINE_AFFINE_OT, 0, c0, TEST_N, TEST_D, y, NV, NULL));
    double pm[TEST_D] = {0}, spread0 = 0.0, spread_pred = 0.0;
    for (size_t i = 0; i < TEST_N; i++)
        for (size_t j = 0; j < TEST_D; j++) pm[j] += y[i * TEST_D + j] / TEST_N;
    for (size_t j = 0; j < TEST_D; j++) CHECK(fabs(pm[j] - m1[j]) < 1e-9);
    for (size_t i = 0; i < TEST_N; i++) {
        for (size_t j = 0; j < TEST_D; j++) {
            CHECK(isfinite(y[i * TEST_D + j]));
            spread0 += pow(c0[i * TEST_D + j] - m0[j], 2);
            spread_pred += pow(y[i * TEST_D + j] - pm[j], 2);
        }
    }
    CHECK(spread_pred < 0.5 * spread0);

    /* Held-out evaluation: 4 finite non-negative W1 values, consistent with the separate calls. */
    double ev[IJK_EVALUATE_STEP_LEN + 1];
    for (size_t i = 0; i <= IJK_EVALUATE_STEP_LEN; i++) ev[i] = -7.0;
    OK(ijk_model_evaluate_step(model, 0, x, TEST_N, xn, NN, TEST_D, ev, IJK_EVALUATE_STEP_LEN + 1, NULL));
    for (size_t i = 0; i < IJK_EVALUATE_STEP_LEN; i++) CHECK(isfinite(ev[i]) && ev[i] >= 0.0);
    CHECK(ev[IJK_EVALUATE_STEP_LEN] == -7.0);
    double w = -1.0;
    OK(ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, p, NV, NULL));
    OK(ijk_metric_w1(p, TEST_N, xn, NN, TEST_D, &w, NULL));
    CHECK(fabs(ev[0] - w) < 1e-9);
    OK(ijk_metric_w1(x, TEST_N, xn, NN, TEST_D, &w, NULL));
    CHECK(fabs(ev[1] - w) < 1e-9);
    const int32_t kinds[] = {IJK_BASELINE_MEAN_SHIFT, IJK_BASELINE_AFFINE_OT};
    for (size_t b = 0; b < 2; b++) {
        OK(ijk_model_baseline_predict(model, kinds[b], 0, x, TEST_N, TEST_D, y, NV, NULL));
        OK(ijk_metric_w1(y, TEST_N, xn, NN, TEST_D, &w, NULL));
        CHECK(fabs(ev[2 + b] - w) < 1e-9);
    }
    /* The last step works too; W1 is symmetric and no motion does not depend on the step. */
    double ev1[IJK_EVALUATE_STEP_LEN];
    OK(ijk_model_evaluate_step(model, 1, xn, NN, x, TEST_N, TEST_D, ev1, IJK_EVALUATE_STEP_LEN, NULL));
    CHECK(fabs(ev1[1] - ev[1]) < 1e-9);
    for (size_t i = 0; i < IJK_EVALUATE_STEP_LEN; i++) CHECK(isfinite(ev1[i]) && ev1[i] >= 0.0);

    /* Errors: nothing is written. */
    for (size_t i = 0; i < NV; i++) y[i] = -7.0;
    for (size_t i = 0; i < IJK_EVALUATE_STEP_LEN; i++) ev[i] = -7.0;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "baseline code 3", ijk_model_baseline_predict(model, 3, 0, x, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "baseline code -1", ijk_model_baseline_predict(model, -1, 0, x, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_baseline_predict(model, IJK_BASELINE_NO_MOTION, 0, x, TEST_N, TEST_D, y, NV - 1, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "step 2", ijk_model_baseline_predict(model, IJK_BASELINE_MEAN_SHIFT, 2, x, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "d = 3", ijk_model_baseline_predict(model, IJK_BASELINE_MEAN_SHIFT, 0, x, TEST_N / 2, 3, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "n = 0", ijk_model_baseline_predict(model, IJK_BASELINE_MEAN_SHIFT, 0, x, 0, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "NULL", ijk_model_baseline_predict(model, IJK_BASELINE_MEAN_SHIFT, 0, NULL, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_baseline_predict(model, IJK_BASELINE_MEAN_SHIFT, 0, x, TEST_N, TEST_D, NULL, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "model", ijk_model_baseline_predict(NULL, IJK_BASELINE_MEAN_SHIFT, 0, x, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out_len", ijk_model_evaluate_step(model, 0, x, TEST_N, xn, NN, TEST_D, ev, 3, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "step 2", ijk_model_evaluate_step(model, 2, x, TEST_N, xn, NN, TEST_D, ev, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "model", ijk_model_evaluate_step(NULL, 0, x, TEST_N, xn, NN, TEST_D, ev, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "NULL", ijk_model_evaluate_step(model, 0, NULL, TEST_N, xn, NN, TEST_D, ev, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "x_next", ijk_model_evaluate_step(model, 0, x, TEST_N, NULL, NN, TEST_D, ev, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_evaluate_step(model, 0, x, TEST_N, xn, NN, TEST_D, NULL, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "n = 0", ijk_model_evaluate_step(model, 0, x, 0, xn, NN, TEST_D, ev, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "x_next: n = 0", ijk_model_evaluate_step(model, 0, x, TEST_N, xn, 0, TEST_D, ev, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "d = 1", ijk_model_evaluate_step(model, 0, x, 2 * TEST_N, xn, 2 * NN, 1, ev, 4, NULL));
    xn[3] = NAN;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "not finite", ijk_model_evaluate_step(model, 0, x, TEST_N, xn, NN, TEST_D, ev, 4, NULL));
    xn[3] = 0.0;
    x[0] = INFINITY;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "not finite", ijk_model_evaluate_step(model, 0, x, TEST_N, xn, NN, TEST_D, ev, 4, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "not finite", ijk_model_baseline_predict(model, IJK_BASELINE_AFFINE_OT, 0, x, TEST_N, TEST_D, y, NV, NULL));
    x[0] = 0.0;
    ijk_error* err = NULL;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "baseline code 7", ijk_model_baseline_predict(model, 7, 0, x, TEST_N, TEST_D, y, NV, &err));
    CHECK(err != NULL && ijk_error_code(err) == IJK_ERR_INVALID_ARGUMENT);
    ijk_error_free(err);
    for (size_t i = 0; i < NV; i++) CHECK(y[i] == -7.0);
    for (size_t i = 0; i < IJK_EVALUATE_STEP_LEN; i++) CHECK(ev[i] == -7.0);

    /* Before training: a state error. */
    ijk_config* cfg = ijk_test_tiny_config();
    ijk_model* fresh = ijk_test_model_with_data(cfg);
    ijk_config_free(cfg);
    FAILS(IJK_ERR_STATE, "not trained", ijk_model_baseline_predict(fresh, IJK_BASELINE_NO_MOTION, 0, x, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_STATE, "not trained", ijk_model_evaluate_step(fresh, 0, x, TEST_N, xn, NN, TEST_D, ev, 4, NULL));
    ijk_model_free(fresh);

    /* A saved and reloaded model keeps its baseline fits: the same evaluation. */
    const char* path = "test_api_baselines.safetensors";
    OK(ijk_model_save(model, path, NULL));
    ijk_model* loaded = NULL;
    OK(ijk_model_load(path, &loaded, NULL));
    double ev2[IJK_EVALUATE_STEP_LEN];
    OK(ijk_model_evaluate_step(model, 0, x, TEST_N, xn, NN, TEST_D, ev, IJK_EVALUATE_STEP_LEN, NULL));
    OK(ijk_model_evaluate_step(loaded, 0, x, TEST_N, xn, NN, TEST_D, ev2, IJK_EVALUATE_STEP_LEN, NULL));
    for (size_t i = 0; i < IJK_EVALUATE_STEP_LEN; i++) CHECK(fabs(ev[i] - ev2[i]) < 1e-9);
    ijk_model_free(loaded);
    remove(path);
}

static void test_persistence(ijk_model* model) {
    const char* path = "test_api_model.safetensors";
    FAILS(IJK_ERR_INVALID_ARGUMENT, "path", ijk_model_save(model, NULL, NULL));
    FAILS(IJK_ERR_IO, "cannot write", ijk_model_save(model, "/nonexistent-dir/x/model.safetensors", NULL));
    OK(ijk_model_save(model, path, NULL));

    ijk_model* loaded = NULL;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "path", ijk_model_load(NULL, &loaded, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_model_load(path, NULL, NULL));
    FAILS(IJK_ERR_IO, "cannot read", ijk_model_load("/nonexistent-dir/model.safetensors", &loaded, NULL));
    CHECK(loaded == NULL);
    OK(ijk_model_load(path, &loaded, NULL));
    int32_t state = -1;
    OK(ijk_model_state(loaded, &state, NULL));
    CHECK(state == IJK_MODEL_LOADED);
    double x[NV], a[NV], b[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 21);
    OK(ijk_model_predict_step(model, 1, x, TEST_N, TEST_D, a, NV, NULL));
    OK(ijk_model_predict_step(loaded, 1, x, TEST_N, TEST_D, b, NV, NULL));
    for (size_t i = 0; i < NV; i++) CHECK(a[i] == b[i]);
    FAILS(IJK_ERR_STATE, "loaded", ijk_model_train_step(loaded, NULL, NULL, NULL));
    FAILS(IJK_ERR_STATE, "loaded", ijk_model_train(loaded, 1, NULL, NULL, NULL));
    FAILS(IJK_ERR_STATE, "before training", ijk_model_add_snapshot_f64(loaded, 5.0, x, TEST_N, TEST_D, NULL));
    ijk_model_free(loaded);

    /* Corrupt files: garbage, and a valid file with its tensor bytes truncated. */
    const char* bad = "test_api_corrupt.safetensors";
    FILE* f = fopen(bad, "wb");
    fputs("this is not a model", f);
    fclose(f);
    loaded = NULL;
    FAILS(IJK_ERR_FORMAT, "not a model file", ijk_model_load(bad, &loaded, NULL));
    CHECK(loaded == NULL);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size - 16, f);
    fclose(f);
    free(bytes);
    FAILS(IJK_ERR_FORMAT, NULL, ijk_model_load(bad, &loaded, NULL));
    CHECK(loaded == NULL);
    remove(bad);
    remove(path);
}

static void test_failed_training(void) {
    ijk_config* cfg = ijk_test_tiny_config();
    OK(ijk_config_set_double(cfg, "energy_lr", 1e30, NULL));
    OK(ijk_config_set_str(cfg, "energy_clip", "none", NULL));
    OK(ijk_config_set_double(cfg, "map_lr", 1e30, NULL));
    ijk_model* model = ijk_test_model_with_data(cfg);
    ijk_config_free(cfg);
    ijk_error* err = NULL;
    FAILS(IJK_ERR_NUMERICAL, "diverged", ijk_model_train(model, 3, NULL, NULL, &err));
    CHECK(ijk_error_code(err) == IJK_ERR_NUMERICAL);
    ijk_error_free(err);
    /* The very first step diverged, so no step completed: the handle stays COLLECTING (not FAILED,
       which needs a completed step first; see the state machine in ijkonet.h), queries are refused
       and training may be retried. Reaching FAILED needs a learning rate that completes a step and
       then diverges, a boundary too machine-dependent for a test here. */
    int32_t state = -1;
    OK(ijk_model_state(model, &state, NULL));
    CHECK(state == IJK_MODEL_COLLECTING);
    double x[NV], y[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 11);
    FAILS(IJK_ERR_STATE, "not trained", ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, y, NV, NULL));
    FAILS(IJK_ERR_NUMERICAL, "diverged", ijk_model_train_step(model, NULL, NULL, NULL));
    OK(ijk_model_state(model, &state, NULL));
    CHECK(state == IJK_MODEL_COLLECTING);
    ijk_model_free(model);
}

static void test_metrics(void) {
    double x[NV], y[NV], out = -1;
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 31);
    /* A translation by a = (3, 4): W1 = W2 = |a| = 5 exactly. */
    for (size_t i = 0; i < TEST_N; i++) {
        y[2 * i] = x[2 * i] + 3.0;
        y[2 * i + 1] = x[2 * i + 1] + 4.0;
    }
    OK(ijk_metric_w1(x, TEST_N, y, TEST_N, TEST_D, &out, NULL));
    CHECK(fabs(out - 5.0) < 1e-9);
    OK(ijk_metric_w2(x, TEST_N, y, TEST_N, TEST_D, &out, NULL));
    CHECK(fabs(out - 5.0) < 1e-9);
    OK(ijk_metric_w1(x, TEST_N, x, TEST_N, TEST_D, &out, NULL));
    CHECK(fabs(out) < 1e-12);
    OK(ijk_metric_mmd(x, TEST_N, x, TEST_N, TEST_D, 1.0, &out, NULL));
    CHECK(fabs(out) < 1e-6);
    double near_mmd = 0, far_mmd = 0;
    OK(ijk_metric_mmd(x, TEST_N, y, TEST_N, TEST_D, 0.0, &far_mmd, NULL)); /* median heuristic */
    for (size_t i = 0; i < NV; i++) y[i] = x[i] + 0.01;
    OK(ijk_metric_mmd(x, TEST_N, y, TEST_N, TEST_D, 0.0, &near_mmd, NULL));
    CHECK(far_mmd > near_mmd && near_mmd >= 0);
    double s_same = -1, s_shift = -1;
    OK(ijk_metric_sinkhorn(x, TEST_N, x, TEST_N, TEST_D, 0.1, &s_same, NULL));
    for (size_t i = 0; i < NV; i++) y[i] = x[i] + 1.0;
    OK(ijk_metric_sinkhorn(x, TEST_N, y, TEST_N, TEST_D, 0.1, &s_shift, NULL));
    /* Debiased: ~0 on identical clouds; a translation by a costs |a|^2 = 2 (exact for any epsilon). */
    CHECK(fabs(s_same) < 1e-3);
    CHECK(fabs(s_shift - 2.0) < 1e-2);

    /* Errors. */
    FAILS(IJK_ERR_INVALID_ARGUMENT, "x", ijk_metric_w1(NULL, TEST_N, y, TEST_N, TEST_D, &out, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "y", ijk_metric_w2(x, TEST_N, NULL, TEST_N, TEST_D, &out, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "out", ijk_metric_w1(x, TEST_N, y, TEST_N, TEST_D, NULL, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "d = 0", ijk_metric_w1(x, TEST_N, y, TEST_N, 0, &out, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "n = 0", ijk_metric_w2(x, 0, y, TEST_N, TEST_D, &out, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "bandwidth", ijk_metric_mmd(x, TEST_N, y, TEST_N, TEST_D, NAN, &out, NULL));
    FAILS(IJK_ERR_INVALID_ARGUMENT, "epsilon", ijk_metric_sinkhorn(x, TEST_N, y, TEST_N, TEST_D, 0.0, &out, NULL));
    y[1] = INFINITY;
    out = -1;
    FAILS(IJK_ERR_INVALID_ARGUMENT, "not finite", ijk_metric_sinkhorn(x, TEST_N, y, TEST_N, TEST_D, 1.0, &out, NULL));
    CHECK(out == -1);
}

int main(void) {
    test_version_and_errors();
    test_config();
    test_model_lifecycle();
    ijk_model* model = trained_model();
    test_queries(model);
    test_baselines(model);
    test_persistence(model);
    ijk_model_free(model);
    test_interaction();
    test_failed_training();
    test_metrics();
    if (ijk_test_failures) {
        fprintf(stderr, "test_api: %d failure(s)\n", ijk_test_failures);
        return 1;
    }
    printf("test_api: all checks passed\n");
    return 0;
}
