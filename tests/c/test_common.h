/* Shared helpers of the C tests: checks that report the failing line and the library's message. */
#ifndef IJK_TEST_COMMON_H
#define IJK_TEST_COMMON_H

#include "ijkonet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ijk_test_failures = 0;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    ijk_last_error_message());                                                   \
            ijk_test_failures++;                                                                 \
        }                                                                                        \
    } while (0)

/* A call must succeed. */
#define OK(call) CHECK((call) == IJK_OK)

/* A call must fail with `code`, leave a non-empty thread-local message, and that message must contain
   `needle` (NULL: no requirement). */
#define FAILS(code, needle, call)                                                                   \
    do {                                                                                            \
        int32_t status_ = (call);                                                                   \
        if (status_ != (code)) {                                                                    \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n", __FILE__, __LINE__, #call, \
                    (int)status_, (int)(code), ijk_last_error_message());                          \
            ijk_test_failures++;                                                                    \
        } else {                                                                                    \
            CHECK(ijk_last_error_code() == (code));                                                 \
            CHECK(ijk_last_error_length() > 0);                                                     \
            CHECK(strlen(ijk_last_error_message()) == ijk_last_error_length());                     \
            const char* needle_ = (needle);                                                         \
            if (needle_ && !strstr(ijk_last_error_message(), needle_)) {                            \
                fprintf(stderr, "%s:%d: message '%s' lacks '%s'\n", __FILE__, __LINE__,             \
                        ijk_last_error_message(), needle_);                                         \
                ijk_test_failures++;                                                                \
            }                                                                                       \
        }                                                                                           \
    } while (0)

/* Deterministic pseudo-random numbers (an LCG), uniform in [0, 1). */
static inline double ijk_test_uniform(unsigned long long* state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / 9007199254740992.0;
}

/* n points of dimension d around `center`, spread `scale`. */
static inline void ijk_test_cloud(double* out, size_t n, size_t d, double center, double scale, unsigned long long seed) {
    unsigned long long s = seed;
    for (size_t i = 0; i < n * d; i++) out[i] = center + scale * (ijk_test_uniform(&s) - 0.5);
}

/* A configuration for tiny, fast training runs. */
static inline ijk_config* ijk_test_tiny_config(void) {
    ijk_config* cfg = NULL;
    if (ijk_config_new(&cfg, NULL) != IJK_OK) return NULL;
    const char* kv[][2] = {{"energy_hidden", "8"}, {"map_hidden", "8"}, {"batch_size", "8"}, {"map_steps", "2"},
                           {"epochs", "1"},        {"threads", "1"},    {"device", "cpu"},   {"seed", "3"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (ijk_config_set_str(cfg, kv[i][0], kv[i][1], NULL) != IJK_OK) {
            ijk_config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

#define TEST_N 16
#define TEST_D 2

/* A model with three snapshots of TEST_N points in TEST_D dimensions contracting towards 0. */
static inline ijk_model* ijk_test_model_with_data(const ijk_config* cfg) {
    ijk_model* model = NULL;
    if (ijk_model_new(cfg, &model, NULL) != IJK_OK) return NULL;
    double cloud[TEST_N * TEST_D];
    for (int k = 0; k < 3; k++) {
        ijk_test_cloud(cloud, TEST_N, TEST_D, 0.0, 2.0 / (1.0 + k), 11 + (unsigned long long)k);
        if (ijk_model_add_snapshot_f64(model, 0.5 * k, cloud, TEST_N, TEST_D, NULL) != IJK_OK) {
            ijk_model_free(model);
            return NULL;
        }
    }
    return model;
}

#endif
