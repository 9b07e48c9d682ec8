/* Uses the installed library: version check, a metric and a configuration round trip. */
#include <ijkonet.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    if (ijk_abi_version() != IJKONET_ABI_VERSION || strcmp(ijk_version(), IJKONET_VERSION_STRING) != 0) {
        fprintf(stderr, "version mismatch: %s\n", ijk_version());
        return 1;
    }
    /* W1 between {0, 1} and {3, 4} on the line is 3. */
    const double x[] = {0.0, 1.0}, y[] = {3.0, 4.0};
    double w1 = 0.0;
    if (ijk_metric_w1(x, 2, y, 2, 1, &w1, NULL) != IJK_OK || fabs(w1 - 3.0) > 1e-12) {
        fprintf(stderr, "W1 = %g (%s)\n", w1, ijk_last_error_message());
        return 1;
    }
    ijk_config* cfg = NULL;
    char buf[32];
    if (ijk_config_new(&cfg, NULL) != IJK_OK || ijk_config_set_int(cfg, "epochs", 7, NULL) != IJK_OK ||
        ijk_config_get(cfg, "epochs", buf, sizeof buf, NULL, NULL) != IJK_OK || strcmp(buf, "7") != 0) {
        fprintf(stderr, "config: %s\n", ijk_last_error_message());
        ijk_config_free(cfg);
        return 1;
    }
    ijk_config_free(cfg);
    printf("consumer: ijkonet %s works\n", ijk_version());
    return 0;
}
