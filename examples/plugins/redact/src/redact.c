/* acme/redact: masks every ASCII digit of each record's value (kind: map).
 *
 * Parameter `mask` (default "#"): the one byte written over each digit.
 * "card 4111-1111" becomes "card ####-####"; the key, time, headers and typed
 * columns are kept. */
#include "dataflare.h"

static uint8_t mask = '#';

df_status df_on_init(const df_params *params) {
    static const char *const known[] = {"mask"};
    df_status status = df_params_allow(params, known, 1);
    if (status != DF_OK) return status;
    df_bytes m = df_param_or(params, "mask", "#");
    if (m.len != 1) return df_config_error("parameter 'mask' must be exactly one byte, such as \"#\"");
    mask = m.ptr[0];
    return DF_OK;
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    const uint8_t m = mask; /* a local: stores through `masked` cannot change it */
    df_record r;
    for (df_iter it = df_iter_begin(in); df_next(&it, &r);) {
        uint8_t *masked = df_alloc(r.value.len);
        if (!masked) return DF_NO_MEMORY;
        for (uint32_t i = 0; i < r.value.len; i++) {
            uint8_t c = r.value.ptr[i];
            masked[i] = (uint8_t)(c - '0') <= 9 ? m : c;
        }
        df_emit(out, r.index, r.timestamp, r.key.ptr, r.key.len, masked, r.value.len);
    }
    return DF_OK;
}
