/* Learn population dynamics from snapshots in a CSV file and print one-step predictions.
 *
 *   ijk_example_c [snapshots.csv] [epochs]
 *
 * The CSV has a header line and rows "time,x0,x1,...": every row is one measured point, rows with the
 * same time form one snapshot. Without arguments it reads examples/c/data/snapshots.csv (particles
 * drifting down a quadratic well centred at (1, -1)). */
#include "ijkonet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM 64

/* Report a failed call and exit (freeing nothing: the process ends). */
static void check(int32_t status, ijk_error* err, const char* what) {
    if (status == IJK_OK) return;
    fprintf(stderr, "%s failed (status %d): %s\n", what, (int)status, ijk_error_message(err));
    ijk_error_free(err);
    exit(1);
}

struct table {
    double* times;  /* one per row */
    double* values; /* rows x dim */
    size_t rows, dim, capacity;
};

static int read_csv(const char* path, struct table* t) {
    FILE* f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[4096];
    if (!fgets(line, sizeof line, f)) { /* header: count the coordinate columns */
        fclose(f);
        return -1;
    }
    t->dim = 0;
    for (char* c = line; *c; c++) t->dim += (*c == ',');
    if (t->dim == 0 || t->dim > MAX_DIM) {
        fprintf(stderr, "%s: expected a header 'time,x0,...'\n", path);
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n' || line[0] == '\0') continue;
        if (t->rows == t->capacity) {
            t->capacity = t->capacity ? 2 * t->capacity : 256;
            t->times = realloc(t->times, t->capacity * sizeof *t->times);
            t->values = realloc(t->values, t->capacity * t->dim * sizeof *t->values);
        }
        char* cursor = line;
        t->times[t->rows] = strtod(cursor, &cursor);
        for (size_t j = 0; j < t->dim; j++) {
            if (*cursor != ',') {
                fprintf(stderr, "%s: row %zu has fewer than %zu coordinates\n", path, t->rows + 1, t->dim);
                fclose(f);
                return -1;
            }
            t->values[t->rows * t->dim + j] = strtod(cursor + 1, &cursor);
        }
        t->rows++;
    }
    fclose(f);
    return 0;
}

static int compare_doubles(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    const char* path = argc > 1 ? argv[1] : "examples/c/data/snapshots.csv";
    long epochs = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
    if (ijk_abi_version() != IJKONET_ABI_VERSION) {
        fprintf(stderr, "header/library mismatch: ABI %u vs %u\n", ijk_abi_version(), (unsigned)IJKONET_ABI_VERSION);
        return 1;
    }
    printf("ijkonet %s\n", ijk_version());

    struct table t = {0};
    if (read_csv(path, &t) != 0) return 1;
    /* Distinct times, sorted. */
    double* distinct = malloc(t.rows * sizeof *distinct);
    memcpy(distinct, t.times, t.rows * sizeof *distinct);
    qsort(distinct, t.rows, sizeof *distinct, compare_doubles);
    size_t k_count = 0;
    for (size_t i = 0; i < t.rows; i++)
        if (k_count == 0 || distinct[i] != distinct[k_count - 1]) distinct[k_count++] = distinct[i];
    printf("%zu rows, %zu snapshots, dimension %zu\n", t.rows, k_count, t.dim);

    ijk_error* err = NULL;
    ijk_config* cfg = NULL;
    check(ijk_config_new(&cfg, &err), err, "ijk_config_new");
    const char* settings[][2] = {{"energy_hidden", "16,16"}, {"map_hidden", "16,16"}, {"batch_size", "40"},
                                 {"map_steps", "3"},         {"threads", "1"},        {"device", "cpu"}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        check(ijk_config_set_str(cfg, settings[i][0], settings[i][1], &err), err, settings[i][0]);
    ijk_model* model = NULL;
    check(ijk_model_new(cfg, &model, &err), err, "ijk_model_new");
    ijk_config_free(cfg);

    /* One snapshot per distinct time; `clouds` keeps them for the predictions below. */
    double** clouds = calloc(k_count, sizeof *clouds);
    size_t* sizes = calloc(k_count, sizeof *sizes);
    for (size_t k = 0; k < k_count; k++) {
        clouds[k] = malloc(t.rows * t.dim * sizeof **clouds);
        for (size_t i = 0; i < t.rows; i++)
            if (t.times[i] == distinct[k]) memcpy(clouds[k] + t.dim * sizes[k]++, t.values + i * t.dim, t.dim * sizeof(double));
        check(ijk_model_add_snapshot_f64(model, distinct[k], clouds[k], sizes[k], t.dim, &err), err, "add_snapshot");
    }

    check(ijk_model_train(model, (uint64_t)epochs, NULL, NULL, &err), err, "ijk_model_train");
    printf("trained %ld epochs\n", epochs);

    /* One-step predictions from each observed snapshot, compared with the next one. */
    for (size_t k = 0; k + 1 < k_count; k++) {
        size_t n = sizes[k];
        double* predicted = malloc(n * t.dim * sizeof *predicted);
        check(ijk_model_predict_step(model, k, clouds[k], n, t.dim, predicted, n * t.dim, &err), err, "predict_step");
        double w1_pred = 0, w1_stay = 0;
        check(ijk_metric_w1(predicted, n, clouds[k + 1], sizes[k + 1], t.dim, &w1_pred, &err), err, "W1");
        check(ijk_metric_w1(clouds[k], n, clouds[k + 1], sizes[k + 1], t.dim, &w1_stay, &err), err, "W1");
        printf("t=%g -> %g: predicted mean (", distinct[k], distinct[k + 1]);
        for (size_t j = 0; j < t.dim; j++) {
            double m = 0;
            for (size_t i = 0; i < n; i++) m += predicted[i * t.dim + j];
            printf("%s%.3f", j ? ", " : "", m / (double)n);
        }
        printf("), W1 to observed %.3f (no motion: %.3f)\n", w1_pred, w1_stay);
        free(predicted);
    }

    for (size_t k = 0; k < k_count; k++) free(clouds[k]);
    free(clouds);
    free(sizes);
    free(distinct);
    free(t.times);
    free(t.values);
    ijk_model_free(model);
    return 0;
}
