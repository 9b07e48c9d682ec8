/* Every learning method through the same C calls: the `method` key selects it, training, prediction,
   ∇V queries and save/load behave alike. Tiny data (16 points, 3 snapshots contracting towards 0). */
#include "test_common.h"

#include <stdint.h>

#define NV (TEST_N * TEST_D)

static double mean_sq_norm(const double* x) {
    double s = 0.0;
    for (size_t i = 0; i < NV; i++) s += x[i] * x[i];
    return s / TEST_N;
}

static void check_method(const char* method, const char* const (*extra)[2], size_t n_extra) {
    ijk_config* cfg = ijk_test_tiny_config();
    CHECK(cfg != NULL);
    OK(ijk_config_set_str(cfg, "method", method, NULL));
    for (size_t i = 0; i < n_extra; i++) OK(ijk_config_set_str(cfg, extra[i][0], extra[i][1], NULL));
    ijk_model* model = ijk_test_model_with_data(cfg);
    ijk_config_free(cfg);
    CHECK(model != NULL);
    if (!model) return;
    OK(ijk_model_train(model, 2, NULL, NULL, NULL));

    /* The trained model reports its method. */
    ijk_config* copy = NULL;
    OK(ijk_model_config(model, &copy, NULL));
    char buf[32] = {0};
    OK(ijk_config_get(copy, "method", buf, sizeof buf, NULL, NULL));
    CHECK(strcmp(buf, method) == 0);
    ijk_config_free(copy);

    double x[NV], y[NV], y2[NV], g[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 11);
    OK(ijk_model_predict_step(model, 0, x, TEST_N, TEST_D, y, NV, NULL));
    int finite = 1;
    for (size_t i = 0; i < NV; i++) finite &= isfinite(y[i]);
    CHECK(finite);
    OK(ijk_model_grad_potential(model, x, TEST_N, TEST_D, 0.0, g, NV, NULL));
    for (size_t i = 0; i < NV; i++) finite &= isfinite(g[i]);
    CHECK(finite);
    FAILS(IJK_ERR_INVALID_ARGUMENT, NULL, ijk_model_predict_step(model, 5, x, TEST_N, TEST_D, y2, NV, NULL));

    /* The closed form fits the contraction in one solve: predictions move towards 0. */
    if (strcmp(method, "jkonet_star_linear") == 0) CHECK(mean_sq_norm(y) < 0.8 * mean_sq_norm(x));

    /* Every method carries the naive baselines: the held-out evaluation of a step against them. */
    double xn[NV], ev[IJK_EVALUATE_STEP_LEN], ev2[IJK_EVALUATE_STEP_LEN], w = -1.0;
    ijk_test_cloud(xn, TEST_N, TEST_D, 0.0, 1.0, 12);
    OK(ijk_model_evaluate_step(model, 0, x, TEST_N, xn, TEST_N, TEST_D, ev, IJK_EVALUATE_STEP_LEN, NULL));
    for (size_t i = 0; i < IJK_EVALUATE_STEP_LEN; i++) CHECK(isfinite(ev[i]) && ev[i] >= 0.0);
    OK(ijk_metric_w1(y, TEST_N, xn, TEST_N, TEST_D, &w, NULL));
    CHECK(fabs(ev[0] - w) < 1e-9);

    /* Save and load: the same method, the same predictions. */
    char path[64];
    snprintf(path, sizeof path, "method_%s.safetensors", method);
    OK(ijk_model_save(model, path, NULL));
    ijk_model* loaded = NULL;
    OK(ijk_model_load(path, &loaded, NULL));
    CHECK(loaded != NULL);
    if (loaded) {
        OK(ijk_model_predict_step(loaded, 0, x, TEST_N, TEST_D, y2, NV, NULL));
        double diff = 0.0;
        for (size_t i = 0; i < NV; i++) diff = fmax(diff, fabs(y[i] - y2[i]));
        CHECK(diff < 1e-5);
        OK(ijk_model_evaluate_step(loaded, 0, x, TEST_N, xn, TEST_N, TEST_D, ev2, IJK_EVALUATE_STEP_LEN, NULL));
        for (size_t i = 1; i < IJK_EVALUATE_STEP_LEN; i++) CHECK(fabs(ev[i] - ev2[i]) < 1e-12);
        CHECK(fabs(ev[0] - ev2[0]) < 1e-4);
        ijk_model_free(loaded);
    }
    remove(path);
    ijk_model_free(model);
}

int main(void) {
    check_method("ijkonet", NULL, 0);
    const char* const star[][2] = {{"star_gmm_components", "2"}};
    check_method("jkonet_star", star, 1);
    const char* const linear[][2] = {{"star_poly_degree", "2"}, {"star_rbf_centres", "3"}};
    check_method("jkonet_star_linear", linear, 2);
    const char* const jk[][2] = {{"jkonet_icnn_hidden", "8"}, {"jkonet_inner_steps", "3"}, {"jkonet_predict_steps", "5"}};
    check_method("jkonet", jk, 3);
    if (ijk_test_failures) {
        fprintf(stderr, "test_methods: %d failure(s)\n", ijk_test_failures);
        return 1;
    }
    printf("test_methods: all checks passed\n");
    return 0;
}
