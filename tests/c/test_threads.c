/* Threads: two handles trained at once, one handle called from two threads, thread-local errors. */
#include "test_common.h"

#include <pthread.h>

#define NV (TEST_N * TEST_D)

struct train_job {
    ijk_model* model;
    int32_t status;
};

static void* train_own_model(void* arg) {
    struct train_job* job = arg;
    job->status = ijk_model_train(job->model, 2, NULL, NULL, NULL);
    return NULL;
}

struct shared_job {
    ijk_model* model;
    int train; /* 1: train steps, 0: predictions */
    int failures;
};

static void* use_shared_model(void* arg) {
    struct shared_job* job = arg;
    double x[NV], y[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 7);
    for (int i = 0; i < 6; i++) {
        int32_t status = job->train ? ijk_model_train_step(job->model, NULL, NULL, NULL)
                                    : ijk_model_predict_step(job->model, 0, x, TEST_N, TEST_D, y, NV, NULL);
        if (status != IJK_OK) job->failures++;
        if (!job->train)
            for (size_t j = 0; j < NV; j++)
                if (!isfinite(y[j])) job->failures++;
    }
    return NULL;
}

static void* fail_in_thread(void* arg) {
    int* seen = arg;
    *seen = ijk_set_num_threads(-1, NULL);
    return NULL;
}

int main(void) {
    ijk_config* cfg = ijk_test_tiny_config();
    CHECK(cfg != NULL);

    /* Two handles trained in parallel, and a third trained alone with the same configuration:
       the seeded results must not depend on the concurrency. */
    struct train_job jobs[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].model = ijk_test_model_with_data(cfg);
        CHECK(jobs[i].model != NULL);
        CHECK(pthread_create(&threads[i], NULL, train_own_model, &jobs[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].status == IJK_OK);
    }
    struct train_job alone = {ijk_test_model_with_data(cfg), -1};
    train_own_model(&alone);
    CHECK(alone.status == IJK_OK);
    double x[NV], a[NV], b[NV], c[NV];
    ijk_test_cloud(x, TEST_N, TEST_D, 0.0, 2.0, 9);
    OK(ijk_model_predict_step(jobs[0].model, 1, x, TEST_N, TEST_D, a, NV, NULL));
    OK(ijk_model_predict_step(jobs[1].model, 1, x, TEST_N, TEST_D, b, NV, NULL));
    OK(ijk_model_predict_step(alone.model, 1, x, TEST_N, TEST_D, c, NV, NULL));
    for (size_t i = 0; i < NV; i++) CHECK(a[i] == b[i] && b[i] == c[i]);

    /* One handle used from two threads at once: training steps and predictions interleave safely. */
    struct shared_job trainer = {alone.model, 1, 0}, predictor = {alone.model, 0, 0};
    CHECK(pthread_create(&threads[0], NULL, use_shared_model, &trainer) == 0);
    CHECK(pthread_create(&threads[1], NULL, use_shared_model, &predictor) == 0);
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    CHECK(trainer.failures == 0 && predictor.failures == 0);

    /* The last error is per thread: a failure elsewhere leaves this thread's record alone. */
    OK(ijk_set_num_threads(1, NULL));
    int seen = 0;
    CHECK(pthread_create(&threads[0], NULL, fail_in_thread, &seen) == 0);
    pthread_join(threads[0], NULL);
    CHECK(seen == IJK_ERR_INVALID_ARGUMENT);
    CHECK(ijk_last_error_code() == IJK_OK && ijk_last_error_length() == 0);

    for (int i = 0; i < 2; i++) ijk_model_free(jobs[i].model);
    ijk_model_free(alone.model);
    ijk_config_free(cfg);
    if (ijk_test_failures) {
        fprintf(stderr, "test_threads: %d failure(s)\n", ijk_test_failures);
        return 1;
    }
    printf("test_threads: all checks passed\n");
    return 0;
}
